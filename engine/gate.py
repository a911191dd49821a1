"""The gate: no trivial, memorising or cheating skill gets in.

The majority baseline is beaten on a chance-corrected footing, on train *and* validation:
predictions must be associated with the labels beyond chance (one-sided Fisher exact
test), MCC and balanced accuracy must clear their floors, and output must not be
(nearly) constant. Raw accuracy is reported beside the majority accuracy, never required:
on CoLA the constant "acceptable" scores 69% accuracy and MCC 0.
Every failed check adds a reason; a verdict with no reasons is an acceptance.
"""
from __future__ import annotations

import ast
import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from engine.records import ExecResult, Metrics, Task
from tasks.metrics import INVALID, binary_metrics

WORD = re.compile(r"[a-z0-9']+")


@dataclass(frozen=True)
class GateConfig:
    alpha: float = 0.05  # significance level of the association test, per split
    mcc_floor: float = 0.05
    balanced_accuracy_floor: float = 0.52
    max_label_share: float = 0.97  # one label on more than this share of a split is "nearly constant"
    max_error_share: float = 0.0  # share of examples a skill may crash on
    memorised_words: int = 5  # this many consecutive training words in one string literal is memorisation
    gap_slack: float = 0.05  # allowed train-minus-validation accuracy gap, plus 3 standard errors
    bool_as_int: bool = True  # a bool counts as its int (True == 1); the task may say no


def predictions(task: Task, result: ExecResult, bool_as_int: bool) -> list[Any]:
    """Outputs as labels; anything that is not a label (error, wrong type, unknown value) is INVALID."""
    assert result.predictions is not None
    out = []
    for value in result.predictions:
        if type(value) is bool:
            value = int(value) if bool_as_int else INVALID
        out.append(value if value is not INVALID and value in task.labels else INVALID)
    return out


def score(task: Task, split: str, result: ExecResult, config: GateConfig) -> Metrics:
    preds = predictions(task, result, config.bool_as_int)
    return binary_metrics(task.split(split).labels, preds, positive=task.labels[-1])


def split_reasons(task: Task, split: str, result: ExecResult, config: GateConfig) -> tuple[list[str], dict[str, str]]:
    """Reasons to reject from one split's run, and details worth storing with them."""
    reasons: list[str] = []
    details: dict[str, str] = {}
    if result.predictions is None:
        code = "timeout" if result.timed_out else "crash"
        reasons.append(f"{code}:{split}")
        details[f"{code}:{split}"] = result.failure
        return reasons, details
    n = len(result.predictions)
    errors = result.per_example_errors
    crashes = {i: m for i, m in errors.items() if not m.startswith("type:")}
    if crashes and len(crashes) > config.max_error_share * n:
        timeouts = [m for m in crashes.values() if m.startswith("timeout")]
        code = "timeout" if len(timeouts) == len(crashes) else "crash"
        first = min(crashes)
        reasons.append(f"{code}:{split}")
        details[f"{code}:{split}"] = f"{len(crashes)} of {n} examples failed; first: {crashes[first]} on {task.split(split).texts[first][:100]!r}"
    preds = predictions(task, result, config.bool_as_int)
    bad = [i for i, p in enumerate(preds) if p is INVALID and i not in crashes]
    if bad:
        reasons.append(f"bad_output:{split}")
        details[f"bad_output:{split}"] = errors.get(bad[0], f"returned {result.predictions[bad[0]]!r}, not one of {list(task.labels)}")
    valid = [p for p in preds if p is not INVALID]
    if valid:
        label, count = Counter(valid).most_common(1)[0]
        share = count / n
        if share > config.max_label_share:
            reasons.append(f"constant_output:{split}")
            details[f"constant_output:{split}"] = f"{share:.1%} of outputs are {label!r} (limit {config.max_label_share:.0%})"
    metrics = score(task, split, result, config)
    if metrics.p_value >= config.alpha:
        reasons.append(f"not_significant:{split}")
        details[f"not_significant:{split}"] = f"Fisher exact p = {metrics.p_value:.3g} >= alpha {config.alpha}"
    if metrics.mcc < config.mcc_floor:
        reasons.append(f"mcc_floor:{split}")
        details[f"mcc_floor:{split}"] = f"MCC {metrics.mcc:.3f} < floor {config.mcc_floor}"
    if metrics.balanced_accuracy < config.balanced_accuracy_floor:
        reasons.append(f"balanced_accuracy_floor:{split}")
        details[f"balanced_accuracy_floor:{split}"] = (
            f"balanced accuracy {metrics.balanced_accuracy:.3f} < floor {config.balanced_accuracy_floor}"
        )
    return reasons, details


def property_reasons(result: ExecResult) -> tuple[list[str], dict[str, str]]:
    reasons, details = [], {}
    if result.predictions is None:
        return reasons, details
    if not result.properties:
        reasons.append("property:unavailable")
        details["property:unavailable"] = "the sandbox ran no property tests"
    for name, outcome in sorted(result.properties.items()):
        if not outcome.passed:
            reasons.append(f"property:{name}")
            details[f"property:{name}"] = outcome.detail
    return reasons, details


def gap_reasons(train: Metrics, validation: Metrics, config: GateConfig) -> tuple[list[str], dict[str, str]]:
    """Memorisation by behaviour: train accuracy far above validation, beyond what its size explains."""
    p = min(max(validation.accuracy, 0.01), 0.99)
    bound = config.gap_slack + 3 * math.sqrt(p * (1 - p) / max(validation.n, 1))
    gap = train.accuracy - validation.accuracy
    if gap > bound:
        return ["memorised:gap"], {"memorised:gap": f"train accuracy exceeds validation by {gap:.3f} (bound {bound:.3f})"}
    return [], {}


class MemoryIndex:
    """What counts as training data in a skill's source: word n-grams and whole sentences of train."""

    def __init__(self, texts: list[str], n: int):
        self.n = n
        self.ngrams: set[tuple[str, ...]] = set()
        self.sentences: set[str] = set()
        for text in texts:
            words = tuple(WORD.findall(text.lower()))
            if len(words) >= 3:
                self.sentences.add(" ".join(words))
            for i in range(len(words) - n + 1):
                self.ngrams.add(words[i : i + n])

    def find(self, code: str) -> str | None:
        """The first string literal that holds training data, or None."""
        try:
            tree = ast.parse(code)
        except SyntaxError:
            return None
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                words = tuple(WORD.findall(node.value.lower()))
                if " ".join(words) in self.sentences:
                    return node.value
                for i in range(len(words) - self.n + 1):
                    if words[i : i + self.n] in self.ngrams:
                        return node.value
        return None


def source_reasons(code: str, index: MemoryIndex) -> tuple[list[str], dict[str, str]]:
    hit = index.find(code)
    if hit is None:
        return [], {}
    return ["memorised:source"], {"memorised:source": f"a string literal holds training text: {hit[:100]!r}"}
