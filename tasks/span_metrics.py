"""Span-level scoring for extraction tasks: precision, recall and F1, exact and overlap, overall and per label.

A span is (start, end, label), end exclusive. Exact: same start, end and label.
Overlap: same label and the character ranges intersect (each gold span matched at most once).
"""
from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

Span = tuple[int, int, str]


@dataclass(frozen=True)
class SpanCounts:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: SpanCounts) -> SpanCounts:
        return SpanCounts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)


def _matches(gold: Sequence[Span], pred: Sequence[Span], overlap: bool) -> int:
    if not overlap:
        return len(set(map(tuple, gold)) & set(map(tuple, pred)))
    used: set[int] = set()
    hits = 0
    for ps, pe, pl in pred:
        for i, (gs, ge, gl) in enumerate(gold):
            if i not in used and gl == pl and ps < ge and gs < pe:
                used.add(i)
                hits += 1
                break
    return hits


def document_counts(gold: Sequence[Span], pred: Sequence[Span] | None, overlap: bool = False) -> SpanCounts:
    """Counts for one document; a failed prediction (None) finds nothing."""
    pred = [] if pred is None else list(dict.fromkeys(map(tuple, pred)))
    hits = _matches(gold, pred, overlap)
    return SpanCounts(hits, len(pred) - hits, len(gold) - hits)


def corpus_counts(golds: Sequence[Sequence[Span]], preds: Sequence[Sequence[Span] | None],
                  overlap: bool = False) -> SpanCounts:
    total = SpanCounts(0, 0, 0)
    for gold, pred in zip(golds, preds, strict=True):
        total = total + document_counts(gold, pred, overlap)
    return total


def per_label(golds: Sequence[Sequence[Span]], preds: Sequence[Sequence[Span] | None],
              overlap: bool = False) -> dict[str, SpanCounts]:
    out: dict[str, SpanCounts] = defaultdict(lambda: SpanCounts(0, 0, 0))
    labels = {s[2] for g in golds for s in g} | {s[2] for p in preds if p for s in p}
    for label in sorted(labels):
        g = [[s for s in gold if s[2] == label] for gold in golds]
        p = [None if pred is None else [s for s in pred if s[2] == label] for pred in preds]
        out[label] = corpus_counts(g, p, overlap)
    return dict(out)


def span_scores(golds: Sequence[Sequence[Span]], preds: Sequence[Sequence[Span] | None]) -> dict[str, float]:
    exact = corpus_counts(golds, preds)
    loose = corpus_counts(golds, preds, overlap=True)
    return {
        "precision": exact.precision, "recall": exact.recall, "f1": exact.f1,
        "overlap_precision": loose.precision, "overlap_recall": loose.recall, "overlap_f1": loose.f1,
        "n": len(golds),
    }


CAPITALISED = re.compile(r"\b[A-Z]\w*")  # a token (word characters) that starts with a capital letter


def empty_baseline(texts: Sequence[str]) -> list[list[Span]]:
    """The trivial baseline that finds nothing."""
    return [[] for _ in texts]


def capitalised_baseline(texts: Sequence[str]) -> list[list[Span]]:
    """The trivial baseline that marks every capitalised token as PERSON."""
    return [[(m.start(), m.end(), "PERSON") for m in CAPITALISED.finditer(t)] for t in texts]


def count_arrays(golds: Sequence[Sequence[Span]], preds: Sequence[Sequence[Span] | None],
                 overlap: bool = False):
    """Per-document (tp, fp, fn) as an (n, 3) integer array."""
    import numpy as np

    rows = [document_counts(g, p, overlap) for g, p in zip(golds, preds, strict=True)]
    return np.array([(c.tp, c.fp, c.fn) for c in rows], dtype=np.int64).reshape(len(rows), 3)


def _f1(tp, fp, fn):
    import numpy as np

    denom = 2 * tp + fp + fn
    return np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)


@lru_cache(maxsize=32)  # a validation test at 0.05/100 takes 10 chunks; train, its subset and validation all stay
def resample_weights(n: int, rounds: int, seed: int):
    """How often each of n documents is drawn in each of `rounds` bootstrap resamples: a
    (rounds, n) matrix, fixed by (n, rounds, seed) so that arrays resampled alike are paired."""
    import numpy as np

    weights = np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=rounds).astype(np.int32)
    weights.setflags(write=False)
    return weights


BOOTSTRAP_CHUNK = 2000  # resamples drawn at once (chunk i from seed + i): memory stays rounds-independent


def bootstrap_f1s(arrays, rounds: int = 1000, seed: int = 0):
    """F1 of `rounds` document resamples of each (n, 3) count array, all resampled alike (paired)."""
    import numpy as np

    n = len(arrays[0]) if arrays else 0
    parts: list[list] = [[] for _ in arrays]
    for i, start in enumerate(range(0, rounds, BOOTSTRAP_CHUNK)):
        weights = resample_weights(n, min(BOOTSTRAP_CHUNK, rounds - start), seed + i)
        for part, counts in zip(parts, arrays):
            sums = weights @ counts
            part.append(_f1(sums[:, 0], sums[:, 1], sums[:, 2]))
    return [np.concatenate(part) for part in parts]


def bootstrap_f1(counts, rounds: int = 1000, seed: int = 0):
    """F1 of `rounds` document resamples of one (n, 3) count array."""
    return bootstrap_f1s([counts], rounds, seed)[0]


def paired_bootstrap_p_counts(skill, baseline, rounds: int = 1000, seed: int = 0) -> float:
    """One-sided p-value that the skill's F1 beats the baseline's, from per-document count arrays:
    (resamples where the skill's F1 <= the baseline's + 1) / (rounds + 1)."""
    if len(skill) == 0:
        return 1.0
    not_better = int((bootstrap_f1(skill, rounds, seed) <= bootstrap_f1(baseline, rounds, seed)).sum())
    return (not_better + 1) / (rounds + 1)


def paired_bootstrap_p(golds: Sequence[Sequence[Span]], preds: Sequence[Sequence[Span] | None],
                       baseline: Sequence[Sequence[Span] | None], rounds: int = 1000, seed: int = 0,
                       overlap: bool = False) -> float:
    """One-sided p-value that the skill's span F1 beats the baseline's, resampling documents."""
    if len(golds) == 0:
        return 1.0
    return paired_bootstrap_p_counts(count_arrays(golds, preds, overlap), count_arrays(golds, baseline, overlap),
                                     rounds, seed)
