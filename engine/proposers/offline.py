"""The offline proposer: evolves readable rule programs without an LLM.

A rule program (a `Genome`) sums the integer weights of the words, word bigrams, word pairs
(two words anywhere in the text) and regex patterns a text shows; a score at or above its
threshold gives label 0 (unacceptable), else 1. Genomes are rendered as the plain Python
source of a skill `solve(text)` and read back from that source (engine/proposers/rule_skill.py),
so skills stored by an earlier run can seed a new one.

Only the train split is read. Features are mined there with a minimum support and smoothed
log-odds. A run's first candidate (when nothing seeds the population) is one global fit: ridge
logistic regression on every mined feature, the strongest (up to 700) kept (engine/proposers/global_fit.py;
`start_fit=False` leaves it out). Any other fresh genome (a restart) samples a few dozen of the
strongest features with their log-odds as weights. Mutations:

- induce (the main move): rule induction guided by a failure cluster: the largest unsolved
  clusters of `ctx.evidence` (engine/evidence.py; without it, a sample of the parent's
  errors of one label) name the train examples to fix; words, bigrams and patterns seen in
  them, and word pairs mined from their most frequent words, are ranked by how much they
  would improve the ridge-penalised log-likelihood of the whole train split (so a rule must
  separate the cluster *and* hold on train), provided they pull the cluster the same way;
  a block of the best is added and all weights are refitted (ridge logistic regression,
  a few Newton steps, weights rounded to integers);
- crossover: the union of two parents' rule sets, refitted;
- prune: the weakest tenth of the rules go, the rest is refitted;
- add, weight, drop, threshold: single-rule steps; restart: a fresh genome.

After a refit, simplification removes every rule whose removal changes no train prediction,
and the genome is shrunk until its source is under MAX_SOURCE bytes (the gate's cap is 20 kB).
"""
from __future__ import annotations

import math
import random
import re
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
from scipy import sparse

from engine.errors import SkillkilnError
from engine.proposers.base import ParentInfo, ProposalContext, TaskCard
from engine.proposers.rule_skill import (FLAGGED, HEAD_RE, MAX_CHARS, OTHER, PATTERN_LIBRARY, SUFFIX_LENGTHS, WORD_RE,
                                         Feature, Genome, edge_word, ends_with, parse_genome, pattern_note, render,
                                         starts_with)
from engine.records import Proposal, Split, TokenUsage

MAX_FEATURES = 700  # with MAX_SOURCE, keeps the source under the gate's 20 kB cap
MAX_SOURCE = 18_000  # bytes of rendered source a genome may take
FRESH_FEATURES = (50, 70)  # a fresh genome holds this many features (inclusive range)
FRESH_MIN_SUPPORT = 20  # a fresh genome samples features seen in at least this many train examples
MIN_SUPPORT = 4  # a mined word or bigram occurs in this many train examples (induction may use it)
EDGE_MIN_SUPPORT = 20  # the same for start/end-word patterns
LIBRARY_MIN_SUPPORT = 8  # the same for the hand-written grammar heuristics
PAIR_MIN_SUPPORT = 8  # a mined word pair occurs in this many train examples
PAIR_WORDS = 24  # pairs are mined among this many of a cluster's most frequent words
PRIOR = 10.0  # pseudo-examples at the base rate: shrinks the log-odds of rarer features
SCALE = 10  # score units per nat of log-odds
MAX_WEIGHT = 30
RIDGE = 20.0  # ridge penalty (in curvature units) that keeps single-rule steps small
REFIT_RIDGE = 8.0  # ridge penalty of a refit of all weights (0.5 * REFIT_RIDGE * w^2, w in nats)
NEWTON_STEPS = 5
INDUCE_RULES = (40, 100)  # an induction adds this many rules (inclusive range)
ADD_CHOICES = 5  # "add" and "weight" mutations pick among this many of the best options
DROP_TOLERANCE = 0.5  # a feature worth less than this (nats of penalised log-likelihood) may go
FIRST_PARENT_SHARE = 0.5  # how often a mutation takes the best-first parent (else another one)
MOVES = {"induce": 0.5, "add": 0.08, "weight": 0.06, "drop": 0.03, "threshold": 0.02, "crossover": 0.15,
         "prune": 0.08, "restart": 0.08}

FIT_NOTE = "fit: one ridge fit of every rule mined from train, the strongest (up to 700) kept, no search"
LITERAL_WORD_RE = re.compile(r"[a-z0-9']+")  # words as the memorisation check reads a literal
WORD_RUN_RE = re.compile(r"\w+")  # what a start/end pattern's \b and \W see as a text's words

# ----------------------------------------------------------------------------- train features


def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except (re.error, TypeError, ValueError, RecursionError, OverflowError):
        return False
    return True


def log_odds(flagged: float, support: float, base_rate: float) -> float:
    """Smoothed log-odds of label 0 among a feature's examples, relative to the base rate."""
    hits = flagged + PRIOR * base_rate
    misses = support - flagged + PRIOR * (1.0 - base_rate)
    return math.log(hits / misses) - math.log(base_rate / (1.0 - base_rate))


@dataclass
class Column:
    """Where a feature occurs in train: example indices, and its counts there."""

    rows: np.ndarray
    counts: np.ndarray


def _column(pairs: Sequence[tuple[int, int]]) -> Column:
    rows = np.array([i for i, _ in pairs], dtype=np.int64)
    return Column(rows, np.array([n for _, n in pairs], dtype=np.int64))


def _count(kind: str, key: str, words: list[str]) -> int:
    if kind == "skill":
        return 0  # a stored skill's column comes from its outputs (FeatureBank.skill_outputs)
    if kind == "word":
        return words.count(key)
    if kind == "pair":
        a, _, b = key.partition(" ")
        return int(a in words and b in words)
    if kind == "suffix":
        return sum(1 for w in words if len(w) > len(key) and w.endswith(key))
    return sum(1 for a, b in pairwise(words) if f"{a} {b}" == key)


class FeatureBank:
    """The features of one train split: per-example columns, mined candidates and their statistics."""

    def __init__(self, split: Split, skill_outputs: dict[str, Sequence[Any]] | None = None) -> None:
        self.texts = [t[:MAX_CHARS] for t in split.texts]  # what the skill reads
        # stored skills offered as libraries: their outputs on each train text, computed in the sandbox
        self.skill_outputs = {name: list(out) for name, out in (skill_outputs or {}).items()
                              if len(out) == len(split.texts)}
        self.flagged = np.array([label == FLAGGED for label in split.labels], dtype=bool)
        self.target = self.flagged.astype(float)
        self.base_rate = min(max(float(self.flagged.mean()), 0.01), 0.99) if len(self.texts) else 0.5
        self.lowered = [t.lower() for t in self.texts]
        self.words = [WORD_RE.findall(t) for t in self.lowered]
        self.sentences = {" ".join(w) for w in self.words if len(w) <= 2}  # whole train texts: never a key
        spelled = [LITERAL_WORD_RE.findall(t) for t in self.lowered]
        self.five_grams = {tuple(w[i : i + 5]) for w in spelled for i in range(len(w) - 4)}
        self.columns: dict[Feature, Column | None] = {}
        self._edges: tuple[dict, dict, list] | None = None  # texts by first and last word (_edge_rows)
        self.candidates = self._mine()
        self.position = {f: j for j, f in enumerate(self.candidates)}
        self.stats = {f: self._stats(f) for f in self.candidates}  # support, label-0 count, log-odds
        self.matrix = self._matrix()  # examples x candidates, counts
        self.squares = self.matrix.multiply(self.matrix).tocsc()
        self.present = (self.matrix > 0).astype(np.int64).tocsr()

    def _mine(self) -> list[Feature]:
        # one flat (row, feature id, count) triple per occurrence in int32 arrays, not a list of (row, count)
        # tuples per feature (a big table's millions of tuples): feature ids in first-seen order, so `mined`
        # keeps the order it had
        ids: dict[Feature, int] = {}
        rows_a, fids_a, counts_a = array("i"), array("i"), array("i")
        for i, words in enumerate(self.words):
            grams = Counter(("word", w) for w in words)
            grams.update(("bigram", f"{a} {b}") for a, b in pairwise(words))
            grams.update(("suffix", w[-n:]) for w in words for n in SUFFIX_LENGTHS if len(w) > n)
            for feature, count in grams.items():
                j = ids.get(feature)
                if j is None:
                    j = ids[feature] = len(ids)
                fids_a.append(j)
                counts_a.append(count)
            rows_a.extend([i] * len(grams))
        rows = np.frombuffer(rows_a, dtype=np.int32)
        fids = np.frombuffer(fids_a, dtype=np.int32)
        counts = np.frombuffer(counts_a, dtype=np.int32)
        support = np.bincount(fids, minlength=len(ids))
        order = np.argsort(fids, kind="stable")  # rows stay ascending within a feature
        starts = np.concatenate([[0], np.cumsum(support)])
        features = list(ids)
        del ids
        mined = []
        for j in np.flatnonzero(support >= MIN_SUPPORT):
            feature = features[j]
            if feature[1] in self.sentences:
                continue
            take = order[starts[j]:starts[j + 1]]
            self.columns[feature] = Column(rows[take].astype(np.int64), counts[take].astype(np.int64))
            mined.append(feature)
        for name, outputs in sorted(self.skill_outputs.items()):
            column = self.column(("skill", name))
            if column is not None and MIN_SUPPORT <= len(column.rows) <= len(self.texts) - MIN_SUPPORT:
                mined.append(("skill", name))
        for pattern, support_needed in self._pattern_pool():
            column = self.column(("pattern", pattern))
            if column is not None and len(column.rows) >= support_needed:
                mined.append(("pattern", pattern))
        return mined

    def _pattern_pool(self) -> list[tuple[str, int]]:
        """Library patterns and start/end-word patterns, each with the support it needs."""
        firsts = Counter(w[0] for w in self.words if w)
        lasts = Counter(w[-1] for w in self.words if w)
        pool = [(p, LIBRARY_MIN_SUPPORT) for p, _ in PATTERN_LIBRARY]
        pool += [(starts_with(w), EDGE_MIN_SUPPORT) for w, n in sorted(firsts.items())
                 if n >= EDGE_MIN_SUPPORT and w.isalpha()]
        pool += [(ends_with(w), EDGE_MIN_SUPPORT) for w, n in sorted(lasts.items())
                 if n >= EDGE_MIN_SUPPORT and w.isalpha()]
        return pool

    def _stats(self, feature: Feature) -> tuple[int, int, float]:
        column = self.columns[feature]
        assert column is not None
        hits = int(self.flagged[column.rows].sum())
        return len(column.rows), hits, log_odds(hits, len(column.rows), self.base_rate)

    def _matrix(self) -> sparse.csc_matrix:
        shape = (len(self.texts), len(self.candidates))
        if not self.candidates:
            return sparse.csc_matrix(shape, dtype=float)
        columns = [self.columns[f] for f in self.candidates]
        rows = np.concatenate([c.rows for c in columns if c is not None])
        cols = np.concatenate([np.full(len(c.rows), j) for j, c in enumerate(columns) if c is not None])
        vals = np.concatenate([c.counts for c in columns if c is not None]).astype(float)
        return sparse.csc_matrix((vals, (rows, cols)), shape=shape)

    def column(self, feature: Feature) -> Column | None:
        """Where any feature (mined or not) occurs in train; None when it cannot be evaluated."""
        if feature not in self.columns:
            self.columns[feature] = self._compute(feature)
        return self.columns[feature]

    def _compute(self, feature: Feature) -> Column | None:
        kind, key = feature
        if kind == "skill":
            outputs = self.skill_outputs.get(key)
            if outputs is None:
                return None
            return _column([(i, 1) for i, out in enumerate(outputs) if out])
        if kind == "pair":
            a, _, b = key.partition(" ")
            first, second = self.column(("word", a)), self.column(("word", b))
            if first is None or second is None or not b:
                return None
            rows = np.intersect1d(first.rows, second.rows, assume_unique=True)
            return Column(rows, np.ones(len(rows), dtype=np.int64))
        if kind != "pattern":
            counted = ((i, _count(kind, key, words)) for i, words in enumerate(self.words))
            return _column([(i, n) for i, n in counted if n])
        if not _compiles(key):
            return None
        regex = re.compile(key)
        word = edge_word(key)  # a start/end pattern only matches texts whose first / last word it is
        rows = range(len(self.texts)) if word is None else self._edge_rows(key, word)
        return _column([(i, 1) for i in rows if regex.search(self.texts[i])])

    def _edge_rows(self, pattern: str, word: str) -> list[int]:
        """The rows a start/end pattern can match. (?i)^\\W*word\\b matches an ASCII text only when its first
        \\w+ run, lower-cased, is WORD, and (?i)\\bword\\W*$ only when its last one is; a text with other
        characters is always a candidate (case folding may differ from lower()). The regex still decides each
        row: this only spares scanning every text for each of a big table's thousands of edge patterns."""
        if self._edges is None:
            heads: dict[str, list[int]] = {}
            tails: dict[str, list[int]] = {}
            other: list[int] = []
            for i, text in enumerate(self.texts):
                if not text.isascii():
                    other.append(i)
                elif runs := WORD_RUN_RE.findall(text):
                    heads.setdefault(runs[0].lower(), []).append(i)
                    tails.setdefault(runs[-1].lower(), []).append(i)
            self._edges = (heads, tails, other)
        heads, tails, other = self._edges
        rows = (heads if HEAD_RE.fullmatch(pattern) else tails).get(word, [])
        return sorted(rows + other) if other else rows

    def scores(self, genome: Genome) -> np.ndarray:
        """The integer score the rendered skill computes, for every train example."""
        total = np.zeros(len(self.texts), dtype=np.int64)
        for feature, weight in genome.weights.items():
            column = self.column(feature)
            if column is not None and len(column.rows):
                np.add.at(total, column.rows, weight * column.counts)
        return total

    def holds_train_text(self, literal: str) -> bool:
        """Whether a string holds five consecutive words of a train text (read forwards or backwards)."""
        for text in (literal, literal[::-1]):
            words = LITERAL_WORD_RE.findall(text.lower())
            if any(tuple(words[i : i + 5]) in self.five_grams for i in range(len(words) - 4)):
                return True
        return False

    def strength(self, feature: Feature) -> float:
        """How surely a mined feature tells the labels apart: |log-odds| times root of support."""
        support, _, lo = self.stats[feature]
        return abs(lo) * math.sqrt(support)


# ----------------------------------------------------------------------------- fitness


def mcc_by_threshold(scores: np.ndarray, flagged: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The MCC of giving label 0 to `score >= t`, for every integer t in [min, max + 1]."""
    low = int(scores.min()) if len(scores) else 0
    size = (int(scores.max()) if len(scores) else 0) - low + 2
    pos = np.bincount(scores[flagged] - low, minlength=size)[:size]
    neg = np.bincount(scores[~flagged] - low, minlength=size)[:size]
    tp = np.cumsum(pos[::-1])[::-1].astype(float)  # label-0 examples at or above each t
    fp = np.cumsum(neg[::-1])[::-1].astype(float)
    fn, tn = pos.sum() - tp, neg.sum() - fp
    denom = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    mcc = np.divide(tp * tn - fp * fn, denom, out=np.zeros(size), where=denom > 0)
    return np.arange(low, low + size), mcc


def best_threshold(scores: np.ndarray, flagged: np.ndarray) -> tuple[int, float]:
    """The threshold with the best MCC (the lowest of ties), and that MCC."""
    thresholds, mcc = mcc_by_threshold(scores, flagged)
    best = int(np.argmax(mcc))
    return int(thresholds[best]), float(mcc[best])


def mcc_at(scores: np.ndarray, flagged: np.ndarray, threshold: int) -> float:
    thresholds, mcc = mcc_by_threshold(scores, flagged)
    return float(mcc[int(np.clip(threshold - thresholds[0], 0, len(mcc) - 1))])


def residuals(scores: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Residuals and curvatures of a logistic model that reads SCALE score units as one nat.

    Only the intercept is fitted; the weights are the genome's.
    """
    z = scores / SCALE
    mean = min(max(float(target.mean()), 0.01), 0.99) if len(target) else 0.5
    bias = math.log(mean / (1 - mean)) - (float(z.mean()) if len(z) else 0.0)
    for _ in range(8):
        p = 1 / (1 + np.exp(-(z + bias)))
        bias += float((target - p).sum() / max(float((p * (1 - p)).sum()), 1e-9))
    p = 1 / (1 + np.exp(-(z + bias)))
    return target - p, p * (1 - p)


def slopes(genome: Genome, bank: FeatureBank) -> dict[Feature, tuple[float, float]]:
    """Per genome feature: gradient (per nat) and curvature of the ridge-penalised log-likelihood."""
    res, curv = residuals(bank.scores(genome), bank.target)
    out = {}
    for feature, weight in genome.weights.items():
        column = bank.column(feature)
        if column is not None:
            grad = float((column.counts * res[column.rows]).sum()) - RIDGE * weight / SCALE
            out[feature] = (grad, float((column.counts**2 * curv[column.rows]).sum()) + RIDGE)
    return out


def outputs(genome: Genome, bank: FeatureBank) -> tuple[int, ...]:
    """What the rendered skill returns for every train text, computed here, without running it."""
    return tuple(np.where(bank.scores(genome) >= genome.threshold, FLAGGED, OTHER).tolist())


def expected_train_outputs(code: str, bank: FeatureBank) -> tuple[int, ...] | None:
    """The train outputs of a rule skill's source (None when it is not one of this proposer's)."""
    genome = parse_genome(code)
    return None if genome is None else outputs(genome, bank)


def with_best_threshold(genome: Genome, bank: FeatureBank) -> Genome:
    genome.threshold, _ = best_threshold(bank.scores(genome), bank.flagged)
    return genome


# ----------------------------------------------------------------------------- mutations


def _weight_for(lo: float) -> int:
    """An integer weight for a log-odds: SCALE units per nat, at least one unit."""
    size = min(MAX_WEIGHT, max(1, round(abs(lo) * SCALE)))
    return size if lo > 0 else -size


def _describe(feature: Feature) -> str:
    kind, key = feature
    if kind == "pair":
        return "pair " + "+".join(repr(w) for w in key.split())
    return f"pattern {pattern_note(key)!r}" if kind == "pattern" else f"{kind} {key!r}"


def fresh(bank: FeatureBank, rng: random.Random) -> Genome:
    """Features sampled among the strongest mined ones, weighted by their smoothed log-odds."""
    ranked = sorted((f for f in bank.candidates if bank.stats[f][0] >= FRESH_MIN_SUPPORT),
                    key=lambda f: (-bank.strength(f), f))
    size = rng.randint(*FRESH_FEATURES)
    chosen = rng.sample(ranked[: size * 3], min(size, len(ranked)))
    chosen += [f for f in bank.candidates if f[0] == "skill" and f not in chosen]  # offered skills: always tried
    return with_best_threshold(Genome({f: _weight_for(bank.stats[f][2]) for f in chosen}), bank)


def misclassified(parent: ParentInfo, genome: Genome, bank: FeatureBank) -> np.ndarray:
    """Train examples the parent got wrong: from its recorded predictions, else from its genome."""
    preds = parent.train_predictions
    if preds is not None and len(preds) == len(bank.texts):
        labels = np.where(bank.flagged, FLAGGED, OTHER)
        return np.array([i for i, (p, y) in enumerate(zip(preds, labels)) if p is None or p != y], dtype=np.int64)
    return np.flatnonzero((bank.scores(genome) >= genome.threshold) != bank.flagged)


def add_feature(genome: Genome, bank: FeatureBank, rng: random.Random, errors: np.ndarray) -> tuple[Genome, str]:
    """Add a mined feature seen in the parent's errors, weighted by a ridge Newton step."""
    child = genome.copy()
    if len(child.weights) >= MAX_FEATURES:
        child, _ = drop_feature(child, bank, rng, force=True)
    res, curv = residuals(bank.scores(child), bank.target)
    grad = bank.matrix.T @ res
    hess = bank.squares.T @ curv + RIDGE
    step = np.clip(np.round(grad / hess * SCALE), -MAX_WEIGHT, MAX_WEIGHT)
    seen = np.asarray(bank.present[errors].sum(axis=0)).ravel() >= 2 if len(errors) else np.ones(len(step), bool)
    gain = np.where(seen & (step != 0), grad**2 / hess, 0.0)
    for feature in child.weights:
        if feature in bank.position:
            gain[bank.position[feature]] = 0.0
    top = [int(j) for j in np.argsort(-gain, kind="stable")[:ADD_CHOICES] if gain[j] > 0]
    if not top:
        return genome, "add: nothing to add"
    j = rng.choices(top, weights=[gain[k] for k in top])[0]
    feature, weight = bank.candidates[j], int(step[j])
    child.weights[feature] = weight
    return with_best_threshold(child, bank), f"add {_describe(feature)} with weight {weight}"


def change_weight(genome: Genome, bank: FeatureBank, rng: random.Random) -> tuple[Genome, str]:
    """Move one weight by +-1 the way the penalised log-likelihood asks (else a random one)."""
    wanted = [
        (g * g / h, f, 1 if g > 0 else -1)
        for f, (g, h) in slopes(genome, bank).items()
        if abs(g / h * SCALE) >= 0.5 and abs(genome.weights[f] + (1 if g > 0 else -1)) <= MAX_WEIGHT
    ]
    if wanted:
        _, feature, step = rng.choice(sorted(wanted, key=lambda w: (-w[0], w[1]))[:ADD_CHOICES])
    elif genome.weights:
        feature, step = rng.choice(sorted(genome.weights)), rng.choice((-1, 1))
    else:
        return genome, "weight: nothing to change"
    child = genome.copy()
    child.weights[feature] += step
    if not child.weights[feature]:
        del child.weights[feature]
    return with_best_threshold(child, bank), f"weight of {_describe(feature)} {step:+d}"


def drop_feature(genome: Genome, bank: FeatureBank, rng: random.Random, force: bool = False) -> tuple[Genome, str]:
    """Drop the feature the penalised log-likelihood misses least, if it misses it little (or when forced)."""
    options = []
    for feature, (grad, hess) in slopes(genome, bank).items():
        theta = genome.weights[feature] / SCALE
        change = -theta * grad - 0.5 * theta * theta * hess  # second-order change of the objective
        options.append((change, rng.random(), feature))
    if len(genome.weights) <= 1 or not options:
        return genome, "drop: nothing to drop"
    change, _, feature = max(options)
    if change < -DROP_TOLERANCE and not force:
        return change_weight(genome, bank, rng)
    child = genome.copy()
    del child.weights[feature]
    return with_best_threshold(child, bank), f"drop {_describe(feature)}"


def move_threshold(genome: Genome, bank: FeatureBank, rng: random.Random, nudge: bool = False) -> tuple[Genome, str]:
    """Move the threshold to its best train value, or by +-1 when it is there (or asked to nudge)."""
    best, _ = best_threshold(bank.scores(genome), bank.flagged)
    child = genome.copy()
    child.threshold = best if best != genome.threshold and not nudge else genome.threshold + rng.choice((-1, 1))
    return child, f"threshold {genome.threshold} -> {child.threshold}"


def crossover(first: Genome, second: Genome, bank: FeatureBank, rng: random.Random) -> tuple[Genome, str]:
    """The union of two rule sets (shared rules start from the mean weight), refitted and simplified."""
    weights = dict(first.weights)
    for feature, w in second.weights.items():
        weights[feature] = round((weights[feature] + w) / 2) if feature in weights else w
    weights = {f: w for f, w in weights.items() if w} or dict(first.weights)
    child = compact(refit(Genome(weights), bank), bank)
    shared = len(set(first.weights) & set(second.weights))
    return child, (f"crossover of two rule sets: {len(first.weights)} + {len(second.weights)} rules "
                   f"({shared} shared), refitted to {len(child.weights)}")


# ----------------------------------------------------------------------------- refit and simplification


def design(features: Sequence[Feature], bank: FeatureBank) -> sparse.csc_matrix:
    """Examples x features, the counts the rendered skill sees."""
    rows, cols, vals = [], [], []
    for j, feature in enumerate(features):
        column = bank.column(feature)
        if column is not None and len(column.rows):
            rows.append(column.rows)
            cols.append(np.full(len(column.rows), j))
            vals.append(column.counts.astype(float))
    shape = (len(bank.texts), len(features))
    if not rows:
        return sparse.csc_matrix(shape, dtype=float)
    return sparse.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=shape)


def refit(genome: Genome, bank: FeatureBank, ridge: float = REFIT_RIDGE) -> Genome:
    """All weights refitted at once: ridge logistic regression by Newton steps from the current
    weights, rounded to integers (SCALE per nat); the threshold is the best on train."""
    features = sorted(f for f in genome.weights if (c := bank.column(f)) is not None and len(c.rows))
    if not features:
        return genome.copy()
    x = design(features, bank)
    y = bank.target
    w = np.array([genome.weights[f] / SCALE for f in features])
    mean = min(max(float(y.mean()), 0.01), 0.99)
    b = math.log(mean / (1 - mean)) - float((x @ w).mean())

    def objective(w: np.ndarray, b: float) -> float:
        z = x @ w + b
        return float(np.logaddexp(0, z).sum() - (y * z).sum() + 0.5 * ridge * (w * w).sum())

    current = objective(w, b)
    for _ in range(NEWTON_STEPS):
        p = 1 / (1 + np.exp(-np.clip(x @ w + b, -30, 30)))
        r, c = y - p, p * (1 - p)
        grad = np.concatenate([[r.sum()], x.T @ r - ridge * w])
        xc = x.multiply(c[:, None]).tocsc()
        hess = np.empty((len(w) + 1, len(w) + 1))
        hess[0, 0] = c.sum() + 1e-9
        hess[0, 1:] = hess[1:, 0] = np.asarray(xc.sum(axis=0)).ravel()
        hess[1:, 1:] = (x.T @ xc).toarray() + ridge * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        size = 1.0
        while size > 1e-3:  # step halving: a Newton step from far away may overshoot
            trial = objective(w + size * step[1:], b + size * step[0])
            if trial <= current:
                break
            size /= 2
        else:
            break
        b, w, current = b + size * step[0], w + size * step[1:], trial
        if np.abs(size * step).max() < 1e-4:
            break
    weights = {f: int(np.clip(round(v * SCALE), -MAX_WEIGHT, MAX_WEIGHT)) for f, v in zip(features, w)}
    return with_best_threshold(Genome({f: v for f, v in weights.items() if v}), bank)


def simplify(genome: Genome, bank: FeatureBank) -> Genome:
    """Remove every rule whose removal changes no train prediction (the weakest tried first)."""
    scores = bank.scores(genome)
    t = genome.threshold
    kept = dict(genome.weights)

    def weakness(feature: Feature) -> tuple:
        column = bank.column(feature)
        support = len(column.rows) if column is not None else 0
        return (abs(kept[feature]) * math.sqrt(support), feature)

    for feature in sorted(kept, key=weakness):
        if len(kept) <= 1:
            break
        column = bank.column(feature)
        if column is None or not len(column.rows):
            del kept[feature]
            continue
        before = scores[column.rows]
        after = before - kept[feature] * column.counts
        if np.array_equal(before >= t, after >= t):
            scores[column.rows] = after
            del kept[feature]
    return Genome(kept, t)


def source_size(genome: Genome) -> int:
    return len(render(genome, "task").encode())


def compact(genome: Genome, bank: FeatureBank) -> Genome:
    """Simplified, and shrunk (weakest rules out, refitted) until it fits MAX_FEATURES and MAX_SOURCE."""
    genome = simplify(genome, bank)
    while len(genome.weights) > 1 and (len(genome.weights) > MAX_FEATURES or source_size(genome) > MAX_SOURCE):
        genome = simplify(refit(_without_weakest(genome, bank, 0.1), bank), bank)
    return genome


def _without_weakest(genome: Genome, bank: FeatureBank, share: float) -> Genome:
    def strength(feature: Feature) -> tuple:
        column = bank.column(feature)
        return (abs(genome.weights[feature]) * math.sqrt(len(column.rows) if column is not None else 0), feature)

    ranked = sorted(genome.weights, key=strength)
    cut = max(1, int(len(ranked) * share))
    if len(genome.weights) > MAX_FEATURES:
        cut = max(cut, len(genome.weights) - MAX_FEATURES)
    return Genome({f: genome.weights[f] for f in ranked[cut:]}, genome.threshold)


def prune(genome: Genome, bank: FeatureBank) -> tuple[Genome, str]:
    """The weakest tenth of the rules out, the rest refitted and simplified."""
    if len(genome.weights) < 4:
        return genome, "prune: too few rules"
    child = compact(refit(_without_weakest(genome, bank, 0.1), bank), bank)
    return child, f"prune: {len(genome.weights)} -> {len(child.weights)} rules, refitted"


# ----------------------------------------------------------------------------- cluster-guided induction


@dataclass
class Target:
    """The train examples an induction tries to fix, and how they were chosen."""

    indices: np.ndarray
    label: str


def target_of(evidence: Any, errors: np.ndarray, bank: FeatureBank, rng: random.Random) -> Target:
    """A failure cluster: one of the largest unsolved clusters of the evidence (those the parent
    also gets wrong), else a sample of the parent's errors of one label."""
    clusters = list(getattr(evidence, "clusters", None) or ())
    if clusters and getattr(evidence, "n_texts", None) == len(bank.texts):
        unsolved = [c for c in clusters if not c.solved] or clusters
        top = unsolved[:5]
        cluster = rng.choices(top, weights=[c.size for c in top])[0]
        idx = np.array(cluster.indices, dtype=np.int64)
        wrong = np.intersect1d(idx, errors) if len(errors) else idx
        idx = wrong if len(wrong) >= 5 else idx
        terms = ", ".join(cluster.terms[:3])
        return Target(idx, f"failure cluster {cluster.id} ({cluster.size} examples{': ' + terms if terms else ''})")
    if not len(errors):
        return Target(np.arange(len(bank.texts)), "all of train")
    flagged = rng.random() < 0.5
    of_label = errors[bank.flagged[errors] == flagged]
    pool = of_label if len(of_label) >= 5 else errors
    picked = np.sort(np.array(rng.sample(list(pool), min(80, len(pool))), dtype=np.int64))
    return Target(picked, f"{len(picked)} errors on label {FLAGGED if flagged else OTHER}")


def _pair_options(target: np.ndarray, bank: FeatureBank, res: np.ndarray, curv: np.ndarray,
                  genome: Genome) -> list[tuple[float, Feature, float]]:
    """Word pairs among the target's most frequent words: (gain, feature, Newton step in nats)."""
    counted = Counter(w for i in target for w in set(bank.words[i]))
    words = sorted((w for w, n in counted.items() if n >= 3), key=lambda w: (-counted[w], w))[:PAIR_WORDS]
    out = []
    for a_i, a in enumerate(words):
        for b in words[a_i + 1 :]:
            key = " ".join(sorted((a, b)))
            feature = ("pair", key)
            if feature in genome.weights:
                continue
            column = bank.column(feature)
            if column is None or len(column.rows) < PAIR_MIN_SUPPORT:
                continue
            local = float(res[np.intersect1d(column.rows, target, assume_unique=True)].sum())
            grad, hess = float(res[column.rows].sum()), float(curv[column.rows].sum()) + REFIT_RIDGE
            if local * grad > 0:
                out.append((grad * grad / hess, feature, grad / hess))
    return out


def induce(genome: Genome, bank: FeatureBank, rng: random.Random, target: Target) -> tuple[Genome, str]:
    """Add a block of rules that separate the target examples and hold on train; refit; simplify."""
    res, curv = residuals(bank.scores(genome), bank.target)
    options: list[tuple[float, Feature, float]] = []
    if bank.candidates:
        seen = np.asarray(bank.present[target.indices].sum(axis=0)).ravel()
        local = bank.matrix[target.indices].T @ res[target.indices]
        grad = bank.matrix.T @ res
        hess = bank.squares.T @ curv + REFIT_RIDGE
        ok = (seen >= 2) & (local * grad > 0)
        for feature in genome.weights:
            if feature in bank.position:
                ok[bank.position[feature]] = False
        for j in np.flatnonzero(ok):
            options.append((float(grad[j] ** 2 / hess[j]), bank.candidates[j], float(grad[j] / hess[j])))
    options += _pair_options(target.indices, bank, res, curv, genome)
    if not options:
        return genome, "induce: nothing to add"
    options.sort(key=lambda o: (-o[0], o[1]))
    want = rng.randint(*INDUCE_RULES)
    pool = options[: want * 2]
    chosen: list[tuple[float, Feature, float]] = []
    while pool and len(chosen) < want:
        pick = rng.choices(range(len(pool)), weights=[o[0] + 1e-9 for o in pool])[0]
        chosen.append(pool.pop(pick))
    child = genome.copy()
    for _, feature, step in chosen:
        child.weights[feature] = int(np.clip(round(step * SCALE), -MAX_WEIGHT, MAX_WEIGHT)) or (1 if step > 0 else -1)
    child = compact(refit(child, bank), bank)
    shown = ", ".join(_describe(f) for _, f, _ in chosen[:3])
    return child, (f"induce {len(chosen)} rules for {target.label}: {shown}, ...; "
                   f"refitted to {len(child.weights)} rules")


def predicts_both(genome: Genome, bank: FeatureBank) -> bool:
    flags = bank.scores(genome) >= genome.threshold
    return 0 < int(flags.sum()) < len(flags)


def ensure_both_labels(genome: Genome, bank: FeatureBank) -> Genome:
    """A genome that gives both labels on train (a constant skill is worthless)."""
    if predicts_both(genome, bank) or not bank.candidates:
        return genome
    fixed = with_best_threshold(genome.copy(), bank)
    if predicts_both(fixed, bank):
        return fixed
    strongest = max(bank.candidates, key=lambda f: (bank.strength(f), f))
    fixed.weights[strongest] = _weight_for(bank.stats[strongest][2])
    return with_best_threshold(fixed, bank)


# ----------------------------------------------------------------------------- the proposer


def _safe(feature: Feature, bank: FeatureBank) -> bool:
    """Whether a parent's feature may be kept: well formed, no train text, a regex that compiles."""
    kind, key = feature
    if kind == "word":
        return WORD_RE.fullmatch(key) is not None and key not in bank.sentences
    if kind == "bigram":
        return re.fullmatch(r"[a-z']+ [a-z']+", key) is not None and key not in bank.sentences
    if kind == "pair":
        return re.fullmatch(r"[a-z']+ [a-z']+", key) is not None
    if kind == "suffix":
        return re.fullmatch(r"[a-z']{2,3}", key) is not None
    if kind == "skill":
        return key in bank.skill_outputs  # only the skills offered to this run
    return kind == "pattern" and len(key) <= 500 and _compiles(key) and not bank.holds_train_text(key)


def usable(genome: Genome | None, bank: FeatureBank) -> Genome | None:
    """A parent's genome without features it may not keep; None when nothing is left."""
    if genome is None:
        return None
    kept = {f: w for f, w in genome.weights.items() if w and _safe(f, bank)}
    return Genome(kept, genome.threshold) if kept else None


@dataclass
class Outcome:
    genome: Genome
    note: str
    parents: tuple[ParentInfo, ...]


class OfflineProposer:
    """Proposes rule skills by mining train features and mutating parents' genomes; no LLM."""

    name = "offline"
    model = "rules-v3"  # v3: a run's first candidate is one global fit (start_fit)
    uses_library_outputs = True  # the loop computes offered libraries' train outputs (in the sandbox) for it

    def __init__(self, seed: int = 0, start_fit: bool = True) -> None:
        self.seed = seed
        self.start_fit = start_fit  # the first candidate of a run without parents: one global fit
        self._banks: dict[tuple, FeatureBank] = {}
        self._calls: Counter = Counter()

    def bank(self, task: TaskCard, libraries: Sequence[Any] = ()) -> FeatureBank:
        """The feature bank of a task's train split and the libraries offered, built once."""
        outputs = {lib.import_name: lib.train_outputs for lib in libraries
                   if getattr(lib, "train_outputs", None) is not None}
        key = (id(task.train), tuple(sorted(outputs)))
        if key not in self._banks:
            self._banks = {key: FeatureBank(task.train, outputs)}  # keep one: a bank is big
        return self._banks[key]

    def _rng(self, ctx: ProposalContext) -> random.Random:
        """From the constructor seed, ctx.seed, ctx.iteration and this call's rank within the iteration."""
        call = self._calls[(ctx.seed, ctx.iteration)]
        self._calls[(ctx.seed, ctx.iteration)] += 1
        return random.Random(f"offline:{self.seed}:{ctx.seed}:{ctx.iteration}:{call}")

    def check_task(self, task) -> None:
        """Refuse, before a run starts, a task whose labels are not exactly 0 and 1."""
        if task.kind != "classification" or set(task.labels) != {FLAGGED, OTHER}:
            shown = ", ".join(repr(label) for label in list(task.labels)[:6])
            raise SkillkilnError(f"the offline proposer needs labels 0 and 1; task {task.name!r} has {shown}: "
                                 "write them as 0 and 1, or use an LLM proposer (--proposer ollama|anthropic)")

    def propose(self, ctx: ProposalContext) -> Proposal:
        self.check_task(ctx.task)
        bank = self.bank(ctx.task, getattr(ctx, "libraries", ()))
        first = ctx.iteration == 0 and ctx.slot == 0  # a run's first candidate
        rng = self._rng(ctx)
        parents = [(p, g) for p in ctx.parents if (g := usable(parse_genome(p.code), bank)) is not None]
        if parents:
            outcome = self._mutate(bank, rng, parents, ctx.evidence)
        elif first and self.start_fit:
            from engine.proposers.global_fit import global_fit  # it imports this module

            outcome = Outcome(global_fit(bank, seed=ctx.seed), FIT_NOTE, ())
        else:
            outcome = Outcome(fresh(bank, rng), "fresh: features mined from train", ())
        genome = ensure_both_labels(outcome.genome, bank)
        return Proposal(
            code=render(genome, ctx.task.name),
            proposer=self.name,
            model=self.model,
            usage=TokenUsage(0, 0),
            parent_ids=tuple(p.id for p in outcome.parents),
            note=outcome.note,
            expected_train=outputs(genome, bank),
        )

    def _mutate(self, bank: FeatureBank, rng: random.Random, parents: list[tuple[ParentInfo, Genome]],
                evidence: Any = None) -> Outcome:
        """One mutation of one parent: the best-first parent half of the time, else another one."""
        pick = 0 if len(parents) == 1 or rng.random() < FIRST_PARENT_SHARE else rng.randrange(1, len(parents))
        info, genome = parents[pick]
        moves = {m: w for m, w in MOVES.items() if m != "crossover" or len(parents) >= 2}
        move = rng.choices(list(moves), weights=list(moves.values()))[0]
        if move == "crossover":
            other_info, other = parents[rng.choice([i for i in range(len(parents)) if i != pick])]
            child, note = crossover(genome, other, bank, rng)
            return Outcome(child, note, (info, other_info))
        if move == "restart":
            return Outcome(fresh(bank, rng), "restart: fresh features mined from train", ())
        errors = misclassified(info, genome, bank)
        if move == "induce":
            child, note = induce(genome, bank, rng, target_of(evidence, errors, bank, rng))
        elif move == "prune":
            child, note = prune(genome, bank)
        elif move == "add":
            child, note = add_feature(genome, bank, rng, errors)
        elif move == "weight":
            child, note = change_weight(genome, bank, rng)
        elif move == "drop":
            child, note = drop_feature(genome, bank, rng)
        else:
            child, note = move_threshold(genome, bank, rng)
        if child.same_as(genome):
            child, note = add_feature(genome, bank, rng, errors)
        if child.same_as(genome):
            child, note = move_threshold(genome, bank, rng, nudge=True)
        return Outcome(child, note, (info,))
