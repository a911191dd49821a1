"""The gate for span tasks (kind "spans"): the same stages and reasons as engine/gate.py, scored
on spans (start, end, label), end exclusive.

Two trivial baselines must be beaten significantly on train *and* validation: the empty
prediction, and "every capitalised token is PERSON". The test is a paired bootstrap over
documents of exact-match span F1 (one-sided; GateConfig.permutations resamples, or more where the
level needs them: validation is held to alpha over the run's candidates, as in engine/gate.py), and exact F1 must also reach SPAN_F1_FLOOR. Outputs are checked on the host for
every split (a list of (int, int, str), 0 <= start < end <= len(text), label in the label
set, no two spans overlapping), beside the sandbox's "span_valid" property when it runs.
Degenerate output (the same spans for more than max_label_share of a split, all empty
included) is rejected on train, validation and generated text. Memorisation by behaviour:
train F1 above validation F1 by more than SPAN_GAP_SLACK, significantly (bootstrap standard
errors). Every check writes what it measured into the verdict's details ("gate:" keys).
"""
from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from statistics import NormalDist
from typing import Any

from engine import gate
from engine.gate import GateConfig
from engine.records import ExecResult, Task
from tasks import span_metrics as sm
from tasks.metrics import p_is

SPAN_F1_FLOOR = 0.05  # exact span F1 a split must reach, besides beating both baselines
SPAN_GAP_SLACK = 0.15  # allowed train-minus-validation F1 gap (splits hold different templates)
BOOTSTRAP_SEED = 0
TEST_NAME = "paired bootstrap over documents of exact span F1, one-sided"
BASELINES = ("empty", "capitalised")  # nothing; every capitalised token as PERSON


@dataclass(frozen=True)
class SpanMetrics:
    precision: float
    recall: float
    f1: float  # exact match: the selection metric
    overlap_precision: float
    overlap_recall: float
    overlap_f1: float
    n: int  # documents
    p_value: float  # the larger of the two baselines' p-values
    p_empty: float
    p_capitalised: float
    empty_f1: float
    capitalised_f1: float
    f1_se: float  # bootstrap standard error of f1
    predicted: int  # spans predicted
    gold: int  # gold spans
    p_floor: float | None = None  # the bootstrap's smallest p, 1 / (rounds + 1)
    distinct: int | None = None  # the distinct documents the bootstrap resampled, when fewer than n

    def to_dict(self) -> dict[str, float]:
        return {
            "precision": self.precision, "recall": self.recall, "f1": self.f1,
            "overlap_precision": self.overlap_precision, "overlap_recall": self.overlap_recall,
            "overlap_f1": self.overlap_f1, "n": self.n, "p_value": self.p_value, "p_empty": self.p_empty,
            "p_capitalised": self.p_capitalised, "baseline_empty_f1": self.empty_f1,
            "baseline_capitalised_f1": self.capitalised_f1, "f1_se": self.f1_se,
            "predicted": self.predicted, "gold": self.gold,
            **({"p_floor": self.p_floor} if self.p_floor is not None else {}),
            **({"distinct": self.distinct} if self.distinct is not None else {}),
        }


# ------------------------------------------------------------------ outputs


def span_problem(text: str, output: Any, labels: Sequence[str]) -> tuple[str, str] | None:
    """(kind, message) for an output that is not a valid span list for `text`, else None.
    kind "type" (not a list of (int, int, str)) or "invalid" (outside the text, empty, unknown
    label, overlapping)."""
    if not isinstance(output, (list, tuple)):
        return "type", f"returned {type(output).__name__}, not a list of spans"
    spans = []
    for item in output:
        if not isinstance(item, (list, tuple)) or len(item) != 3:
            return "type", f"a span is not (start, end, label): {item!r:.80}"
        start, end, label = item
        if type(start) is not int or type(end) is not int or not isinstance(label, str):
            return "type", f"a span is not (int, int, str): {item!r:.80}"
        if not 0 <= start < end <= len(text):
            return "invalid", f"span {tuple(item)!r} is not inside the text (length {len(text)}) with start < end"
        if label not in labels:
            return "invalid", f"span {tuple(item)!r} has a label outside the label set"
        spans.append((start, end, label))
    spans.sort()
    for a, b in pairwise(spans):
        if b[0] < a[1]:
            return "invalid", f"spans {a!r} and {b!r} overlap"
    return None


def as_spans(output: Any) -> list[tuple[int, int, str]] | None:
    """An output as span tuples for scoring; None for a failed or malformed output (finds nothing)."""
    if not isinstance(output, (list, tuple)):
        return None
    try:
        return [(int(s[0]), int(s[1]), str(s[2])) for s in output]
    except (TypeError, ValueError, IndexError):
        return None


def _key(output: Any) -> str:
    spans = as_spans(output)
    return "failed" if spans is None else json.dumps(sorted(spans))


def top_output(outputs: Sequence[Any]) -> tuple[Any, int]:
    """The most common output (spans compared as sets) and how often it occurs."""
    if not outputs:
        return None, 0
    key, count = Counter(_key(o) for o in outputs).most_common(1)[0]
    return (None if key == "failed" else json.loads(key)), count


def problems(task: Task, texts: Sequence[str], result: ExecResult) -> dict[str, dict[int, str]]:
    """Failed examples by kind: crash (or timeout), bad_output (not span lists), invalid_spans."""
    assert result.predictions is not None
    errors = result.per_example_errors
    found: dict[str, dict[int, str]] = {"crash": {}, "bad_output": {}, "invalid_spans": {}}
    for i, out in enumerate(result.predictions):
        if i in errors:
            found["bad_output" if errors[i].startswith("type:") else "crash"][i] = errors[i]
            continue
        problem = span_problem(texts[i], out, task.labels)
        if problem is not None:
            found["bad_output" if problem[0] == "type" else "invalid_spans"][i] = problem[1]
    return found


WHAT = {"crash": "failed", "bad_output": "are not lists of (start, end, label)", "invalid_spans": "hold invalid spans"}


def output_reasons(
    task: Task, split: str, texts: Sequence[str], result: ExecResult, config: GateConfig, bound=None
) -> tuple[list[str], dict[str, str], list[Any] | None]:
    """Crash, timeout, bad output, invalid spans and degenerate output: the checks that need no labels.

    BOUND(count, n) is the failure share held against max_error_share (default: count / n).
    Returns reasons, details and the outputs as span lists (None where an example failed)."""
    bound = bound or (lambda count, n: count / n)
    reasons: list[str] = []
    details: dict[str, str] = {}
    if result.predictions is None:
        return *gate.run_failure(split, result), None
    n = len(result.predictions)
    for kind, found in problems(task, texts, result).items():
        if not found or bound(len(found), n) <= config.max_error_share:
            continue
        code = kind
        if kind == "crash" and all(m.startswith("timeout") for m in found.values()):
            code = "timeout"
        first = min(found)
        reasons.append(f"{code}:{split}")
        details[f"{code}:{split}"] = f"{len(found)} of {n} outputs {WHAT[kind]}; first: {found[first]} on {texts[first][:100]!r}"
    value, count = top_output(result.predictions)
    if n and bound(count, n) > config.max_label_share and value is not None:
        code = "empty_output" if value == [] else "constant_output"
        reasons.append(f"{code}:{split}")
        details[f"{code}:{split}"] = (f"{count / n:.1%} of {n} outputs are {value!r:.100} "
                                      f"(share bound {bound(count, n):.3f} > limit {config.max_label_share})")
    errors = result.per_example_errors
    return reasons, details, [as_spans(o) if i not in errors else None for i, o in enumerate(result.predictions)]


# ------------------------------------------------------------------ scoring


_BASELINE_CACHE: dict[int, tuple[Any, dict[str, Any]]] = {}


def baseline_counts(task: Task, split: str) -> dict[str, Any]:
    """Per-document (tp, fp, fn) arrays of the two trivial baselines on a split (cached)."""
    data = task.split(split)
    cached = _BASELINE_CACHE.get(id(data))
    if cached is None or cached[0] is not data:
        golds = data.labels
        counts = {
            "empty": sm.count_arrays(golds, sm.empty_baseline(data.texts)),
            "capitalised": sm.count_arrays(golds, sm.capitalised_baseline(data.texts)),
        }
        if len(_BASELINE_CACHE) > 16:
            _BASELINE_CACHE.clear()
        cached = _BASELINE_CACHE[id(data)] = (data, counts)
    return cached[1]


def measure(golds: Sequence[Any], preds: Sequence[Any], baselines: dict[str, Any], config: GateConfig,
            level: float | None = None, texts: Sequence[str] | None = None) -> SpanMetrics:
    """Span metrics of PREDS against GOLDS, with both baselines' F1 and paired bootstrap p-values
    (as many resamples as the test's LEVEL, default alpha, needs). With TEXTS, the bootstrap resamples
    each distinct document once (its first row), as the classification gate's test counts each distinct
    text once: a table repeating its documents would make a skill's luck on a few look like evidence."""
    import numpy as np

    exact = sm.corpus_counts(golds, preds)
    loose = sm.corpus_counts(golds, preds, overlap=True)
    skill = sm.count_arrays(golds, preds)
    rounds = gate.resamples(config.alpha if level is None else level, config)
    names = list(baselines)
    first = gate.first_rows(texts) if texts is not None else None
    once = first is not None and len(first) < len(golds)
    if len(golds):
        arrays = [skill, *(baselines[name] for name in names)]
        f1s, *base_f1s = sm.bootstrap_f1s([a[first] for a in arrays] if once else arrays, rounds, BOOTSTRAP_SEED)
    else:
        f1s, base_f1s = np.zeros(1), []
    ps, base_f1 = {}, {}
    for i, name in enumerate(names):
        counts = baselines[name]
        total = counts.sum(axis=0) if len(counts) else np.zeros(3, dtype=np.int64)
        base_f1[name] = sm.SpanCounts(*map(int, total)).f1
        if len(golds):
            not_better = int((f1s <= base_f1s[i]).sum())
            ps[name] = (not_better + 1) / (rounds + 1)
        else:
            ps[name] = 1.0
    return SpanMetrics(
        precision=exact.precision, recall=exact.recall, f1=exact.f1, overlap_precision=loose.precision,
        overlap_recall=loose.recall, overlap_f1=loose.f1, n=len(golds), p_value=max(ps.values()),
        p_empty=ps["empty"], p_capitalised=ps["capitalised"], empty_f1=base_f1["empty"],
        capitalised_f1=base_f1["capitalised"], f1_se=float(np.std(f1s)), predicted=exact.tp + exact.fp,
        gold=exact.tp + exact.fn, p_floor=1 / (rounds + 1), distinct=len(first) if once else None,
    )


def score(task: Task, split: str, result: ExecResult, config: GateConfig) -> SpanMetrics:
    data = task.split(split)
    _, _, preds = output_reasons(task, split, data.texts, result, config)
    return measure(data.labels, preds or [None] * len(data), baseline_counts(task, split), config,
                   gate.split_alpha(task, split, config), data.texts)


def per_label_detail(golds: Sequence[Any], preds: Sequence[Any]) -> str:
    parts = []
    for label, c in sorted(sm.per_label(golds, preds).items(), key=lambda kv: -(kv[1].tp + kv[1].fn)):
        parts.append(f"{label} F1 {c.f1:.2f} (P {c.precision:.2f} R {c.recall:.2f}, {c.tp + c.fn} gold)")
    return "; ".join(parts)


def statistical_reasons(split: str, m: SpanMetrics, config: GateConfig,
                        level: float | None = None) -> tuple[list[str], dict[str, str]]:
    """Both baselines beaten significantly (at LEVEL, default alpha), and the F1 floor, on one labelled split."""
    reasons: list[str] = []
    checks = []
    failed = []
    level = config.alpha if level is None else level
    shown = gate.alpha_text(config.alpha, config.validation_family, level)
    for name, p, f1 in (("empty", m.p_empty, m.empty_f1), ("capitalised", m.p_capitalised, m.capitalised_f1)):
        ok = p < level
        checks.append(f"vs {name} baseline (F1 {f1:.3f}): {p_is(p, m.p_floor)} {'<' if ok else '>='} alpha {shown}")
        if not ok:
            failed.append(f"{name} baseline (F1 {f1:.3f}, {p_is(p, m.p_floor)})")
    details: dict[str, str] = {}
    if failed:
        reasons.append(f"not_significant:{split}")
        details[f"not_significant:{split}"] = (f"span F1 {m.f1:.3f} does not beat the " + " nor the ".join(failed)
                                               + f" at alpha {shown} ({TEST_NAME})")
    ok = m.f1 >= SPAN_F1_FLOOR
    checks.append(f"span F1 {m.f1:.3f} {'>=' if ok else '<'} floor {SPAN_F1_FLOOR}")
    if not ok:
        reasons.append(f"f1_floor:{split}")
        details[f"f1_floor:{split}"] = f"span F1 {m.f1:.3f} < floor {SPAN_F1_FLOOR}"
    checks.append(f"precision {m.precision:.3f}, recall {m.recall:.3f}, overlap F1 {m.overlap_f1:.3f}; "
                  f"{m.predicted} spans predicted, {m.gold} gold")
    if m.distinct is not None:
        checks.append(f"the bootstrap resampled its {m.distinct:,} distinct documents of {m.n:,} rows "
                      "(a repeated document counts once)")
    details[f"gate:{split}"] = "; ".join(checks)
    return reasons, details


def split_reasons(task: Task, split: str, result: ExecResult, config: GateConfig) -> tuple[list[str], dict[str, str]]:
    """Reasons to reject from one split's run, and details worth storing with them."""
    data = task.split(split)
    reasons, details, preds = output_reasons(task, split, data.texts, result, config)
    if preds is None or not result.answered:  # no output at all: the reasons above say why; nothing to score
        return reasons, details
    level = gate.split_alpha(task, split, config)
    m = measure(data.labels, preds, baseline_counts(task, split), config, level, data.texts)
    more, more_details = statistical_reasons(split, m, config, level)
    details.update(more_details)
    details[f"gate:{split}_labels"] = per_label_detail(data.labels, preds)
    value, count = top_output(result.predictions)
    details[f"gate:{split}"] += f"; top output {value!r:.60} on {count / max(len(preds), 1):.1%} (limit {config.max_label_share:.0%})"
    return reasons + more, details


def generated_reasons(task: Task, texts: Sequence[str], result: ExecResult, config: GateConfig) -> tuple[list[str], dict[str, str]]:
    """Realistic generated text (no labels): the skill must run on it, give valid spans and not be degenerate."""
    reasons, details, preds = output_reasons(task, "generated", texts, result, config)
    if preds is not None:
        value, count = top_output(result.predictions)
        details["gate:generated"] = (f"{len(preds)} generated texts (one-edit perturbations of train texts): "
                                     f"top output {value!r:.60} on {count / max(len(preds), 1):.1%} "
                                     f"(limit {config.max_label_share:.0%})")
    return reasons, details


property_reasons = gate.property_reasons  # total, deterministic, sensitive and span_valid, from the sandbox


def gap_reasons(train: SpanMetrics, validation: SpanMetrics, config: GateConfig) -> tuple[list[str], dict[str, str]]:
    """Memorisation by behaviour: train F1 above validation F1 by more than SPAN_GAP_SLACK, significantly
    (z-test with the two splits' bootstrap standard errors; reject when p < gap_alpha)."""
    slack = max(config.gap_slack, SPAN_GAP_SLACK)
    gap = train.f1 - validation.f1
    se = math.sqrt(train.f1_se ** 2 + validation.f1_se ** 2) or 1e-9
    return gate.gap_verdict(f"train span F1 {train.f1:.3f} - validation {validation.f1:.3f}", gap, se, slack,
                            config.gap_alpha)


# ------------------------------------------------------------------ the cascade's train subset


def subset_indices(task: Task, size: int) -> tuple[int, ...]:
    """A fixed sample of train documents, stratified by whether a document holds any span."""
    return gate.stratified_subset([bool(y) for y in task.train.labels], size)


def subset_reasons(task: Task, indices: Sequence[int], result: ExecResult, config: GateConfig
                   ) -> tuple[list[str], dict[str, str], SpanMetrics | None]:
    """The cascade's first stage: stop a candidate the full train stage cannot plausibly pass.

    - crash, timeout, bad output, invalid spans: the subset's outputs are part of the full train
      run, so (with max_error_share = 0) one there fails the full train stage for certain; in
      general the Wilson lower bound of the failure share must be above max_error_share.
    - degenerate output: the Wilson lower (1 - beta) bound of the top output's share is above
      max_label_share.
    - a baseline out of reach: the skill's F1 is below a baseline's in all but a beta share of
      the paired bootstrap resamples (significantly worse at level beta)."""
    split = "train_subset"
    z = NormalDist().inv_cdf(1 - config.cascade_beta)
    texts = [task.train.texts[i] for i in indices]
    golds = [task.train.labels[i] for i in indices]
    n = len(indices)
    reasons, details, preds = output_reasons(task, split, texts, result, config,
                                             bound=lambda count, total: gate.wilson(count, total, z)[0])
    if preds is None:
        for r in reasons:
            details[r] += " (the full train split includes these examples)"
        return reasons, details, None
    _, count = top_output(result.predictions)
    low = gate.wilson(count, n, z)[0]
    full = baseline_counts(task, "train")
    baselines = {name: counts[list(indices)] for name, counts in full.items()}
    m = measure(golds, preds, baselines, config)
    f1s = sm.bootstrap_f1(sm.count_arrays(golds, preds), config.permutations, BOOTSTRAP_SEED)
    behind = []
    for name, counts in baselines.items():
        ahead = int((f1s >= sm.bootstrap_f1(counts, config.permutations, BOOTSTRAP_SEED)).sum())
        p_reverse = (ahead + 1) / (config.permutations + 1)
        if p_reverse < config.cascade_beta:
            behind.append(f"{name} baseline (F1 {getattr(m, name + '_f1'):.3f}; skill ahead in {p_reverse:.3g} of resamples)")
    if behind:
        reasons.append(f"below_baseline:{split}")
        details[f"below_baseline:{split}"] = (f"span F1 {m.f1:.3f} is significantly below the " + " and the ".join(behind)
                                              + f" at level {config.cascade_beta}: the full train split cannot plausibly pass")
    details["gate:train_subset"] = (
        f"{n} train documents (stratified by holding any span), one-sided {1 - config.cascade_beta:.0%} bounds: "
        f"span F1 {m.f1:.3f} (empty baseline {m.empty_f1:.3f}, capitalised baseline {m.capitalised_f1:.3f}); "
        f"top output on {count / max(n, 1):.1%} (lower bound {low:.3f}, limit {config.max_label_share}); "
        f"{'stopped here' if reasons else 'went on to the full train split'}"
    )
    return reasons, details, m


def config_detail(task: Task, config: GateConfig, cascade: bool) -> str:
    """The span gate's settings as JSON, stored with every verdict (details["gate:config"])."""
    return json.dumps({
        "alpha": config.alpha,
        "validation_alpha": gate.split_alpha(task, "validation", config),
        "validation_family": config.validation_family,
        "test": TEST_NAME,
        "baselines": list(BASELINES),
        "resamples": config.permutations,
        "validation_resamples": gate.resamples(gate.split_alpha(task, "validation", config), config),
        "f1_floor": SPAN_F1_FLOOR,
        "max_label_share": config.max_label_share,
        "max_error_share": config.max_error_share,
        "labels": len(task.labels),
        "gap_slack": max(config.gap_slack, SPAN_GAP_SLACK),
        "gap_alpha": config.gap_alpha,
        "memorised_words": config.memorised_words,
        "cascade": cascade,
        "subset_size": config.subset_size if cascade else None,
        "cascade_beta": config.cascade_beta if cascade else None,
    }, sort_keys=True)
