"""Scoring on the host: accuracy, Matthews correlation, F1, balanced accuracy, majority baseline.

Predictions that are not a valid label (an error, a wrong type) count as wrong: they are
mapped to a value that matches no label.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Any, Sequence

from engine.records import Metrics

INVALID = object()  # stands for a prediction that is no label at all


def at_floor(p: float, floor: float | None) -> bool:
    """P is a Monte Carlo test's smallest value (FLOOR = 1 / (rounds + 1)): no resample was as extreme."""
    return floor is not None and p <= floor * (1 + 1e-9)


def p_text(p: float, fmt: str = ".3g", floor: float | None = None) -> str:
    """A p-value in a table cell: one too small for a float (it underflowed to 0) is "<1e-300", not 0; one at a
    Monte Carlo test's FLOOR is "<=0.0005"."""
    if p == 0:
        return "<1e-300"
    return ("<=" if at_floor(p, floor) else "") + format(p, fmt)


def p_is(p: float, floor: float | None = None) -> str:
    """A p-value in a sentence: "p = 0.00123", "p < 1e-300" when it underflowed to 0, or "p <= 0.0005"
    at FLOOR, a Monte Carlo test's smallest p (no resample was as extreme: the true p may be smaller)."""
    if p == 0:
        return "p < 1e-300"
    return f"p {'<=' if at_floor(p, floor) else '='} {p:.3g}"


def confusion(labels: Sequence[Any], preds: Sequence[Any], positive: Any = 1) -> tuple[int, int, int, int]:
    """(tp, fn, fp, tn) with `positive` as the positive class; invalid predictions count as wrong."""
    tp = fn = fp = tn = 0
    for y, p in zip(labels, preds, strict=True):
        if y == positive:
            if p is not INVALID and p == positive:
                tp += 1
            else:
                fn += 1
        else:
            if p is not INVALID and p == positive:
                fp += 1
            elif p is not INVALID and p == y:
                tn += 1
            else:
                # an invalid prediction on a negative example is wrong: it neither hits y
                # nor says positive, so it lands where the table hurts the skill most
                fp += 1
    return tp, fn, fp, tn


def mcc_from_confusion(tp: int, fn: int, fp: int, tn: int) -> float:
    denom = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return 0.0 if denom == 0 else (tp * tn - fp * fn) / denom


def association_p_value(tp: int, fn: int, fp: int, tn: int) -> float:
    """One-sided Fisher exact test: are predictions positively associated with the labels?"""
    if (tp + fn) == 0 or (fp + tn) == 0:
        return 1.0
    from scipy.stats import fisher_exact  # imported here: scipy costs a second at start-up

    return float(fisher_exact([[tp, fn], [fp, tn]], alternative="greater").pvalue)


def majority_accuracy(labels: Sequence[Any]) -> float:
    if not labels:
        return 0.0
    return Counter(labels).most_common(1)[0][1] / len(labels)


def binary_metrics(labels: Sequence[Any], preds: Sequence[Any], positive: Any = 1) -> Metrics:
    n = len(labels)
    tp, fn, fp, tn = confusion(labels, preds, positive)
    correct = sum(1 for y, p in zip(labels, preds) if p is not INVALID and p == y)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    tnr = tn / (tn + fp) if tn + fp else 0.0
    return Metrics(
        accuracy=correct / n if n else 0.0,
        mcc=mcc_from_confusion(tp, fn, fp, tn),
        f1=f1,
        balanced_accuracy=(recall + tnr) / 2,
        n=n,
        majority_accuracy=majority_accuracy(labels),
        p_value=association_p_value(tp, fn, fp, tn),
        invalid=sum(1 for p in preds if p is INVALID),
    )
