"""The parts of an LLM prompt that differ for a span task (kind "spans", e.g. pii): what solve returns,
what the span gate asks, span-shaped example skills, and train examples shown with their gold spans
beside the parent's. engine/prompts.py picks these when the task card's kind is "spans"; everything
else (parents, feedback, the answer format, repairs) is shared.
"""
from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from string import Template
from typing import Any

from engine.gate import GateConfig
from engine.prompt_rules import CODE_RULES, MEMORY_RULES
from engine.proposers.base import ParentInfo, TaskCard
from engine.span_gate import SPAN_F1_FLOOR
from sandbox.backend import Limits
from sandbox.static import ALLOWED_IMPORTS, MAX_SOURCE_BYTES

TASK_CARD = Template("""## Task: $name
$description

Span labels: $labels. Train split: $n_train labelled texts holding $n_spans gold spans ($distribution).

Write a skill: Python 3.11 source that defines, at top level,

    def solve(text):
        ...
        return spans   # a list of (start, end, LABEL) tuples: text[start:end] is the span, LABEL one of the labels

Rules, checked before anything runs:
""" + CODE_RULES + """\
- valid spans only: integers with 0 <= start < end <= len(text), a known label, no two spans overlapping
  (any other output on a text counts as a failure there)
- depends on its input: the same spans (or none) for $max_share_pct+ of the texts is rejected
""" + MEMORY_RULES + """\
- the gate accepts a skill only if its exact-match span F1 beats two trivial baselines beyond chance on train and
  on held-out data (a one-sided paired bootstrap over texts, p < $alpha): finding nothing, and marking every
  capitalised word PERSON; and reaches span F1 $f1_floor. Finding nothing scores F1 0: worthless.
""")

# built-in span skills: regex rules per label, matches kept unless they overlap one kept before
_FEW_SHOT = (
    '''"""E-mail addresses and phone numbers by pattern."""
import re

RULES = [
    ("EMAIL_ADDRESS", re.compile(r"[\\w.+-]+@[\\w-]+(?:\\.[\\w-]+)+")),
    ("PHONE_NUMBER", re.compile(r"\\+?\\d[\\d ().-]{7,}\\d")),
]


def solve(text):
    spans = []
    for label, pattern in RULES:
        for match in pattern.finditer(text):
            start, end = match.span()
            if all(end <= s or start >= e for s, e, _ in spans):
                spans.append((start, end, label))
    return sorted(spans)
''',
    '''"""A name after a title: the words after Mr., Ms., Dr. (the title itself is not part of the span)."""
import re

AFTER_TITLE = re.compile(r"\\b(?:Mr|Mrs|Ms|Dr)\\.? ([A-Z][a-z]+(?: [A-Z][a-z]+)?)\\b")


def solve(text):
    return [(m.start(1), m.end(1), "PERSON") for m in AFTER_TITLE.finditer(text[:5000])]
''',
)

FIRST_TASK = ("Write a first skill for this task: general rules (regular expressions, word lists) that find "
              "spans of several labels. Its spans must not overlap.")


DIRECTIVES = (
    "Add one or two new rules that find spans parent 1 misses above without adding wrong ones.",
    "Refine the rules of parent 1 that cause most of its errors: tighten patterns that find wrong spans, "
    "widen those that miss.",
    "Simplify parent 1: drop rules that find more wrong spans than right ones, then add the one rule that helps most.",
    "Combine the best rules of the parents into one skill that beats each of them.",
)

EXPLAIN = {
    "bad_output": "returned something that is not a list of (start, end, label) tuples",
    "invalid_spans": "spans outside the text, overlapping, or with an unknown label",
    "empty_output": "finds nothing on nearly every text",
    "constant_output": "the same spans on nearly every text: the skill barely looks at its input",
    "not_significant": "span F1 does not beat the trivial baselines beyond chance",
    "f1_floor": "span F1 below the floor",
    "below_baseline": "span F1 below a trivial baseline",
    "memorised:gap": "train F1 far above held-out F1: the rules memorise",
}


def builtin_examples() -> list[str]:
    return list(_FEW_SHOT)


def task_card(card: TaskCard, limits: Limits, gate: GateConfig) -> str:
    counts: Counter = Counter(span[2] for spans in card.train.labels for span in spans)
    total = sum(counts.values())
    distribution = ", ".join(f"{lab!r}: {counts.get(lab, 0)}" for lab in card.labels)
    return TASK_CARD.substitute(
        name=card.name, description=card.description, labels=", ".join(repr(x) for x in card.labels),
        n_train=len(card.train.labels), n_spans=total, distribution=distribution, imports=", ".join(ALLOWED_IMPORTS),
        max_bytes=MAX_SOURCE_BYTES, call_s=limits.call_s, wall_s=int(limits.wall_s),
        max_share_pct=f"{gate.max_label_share:.0%}", memorised=gate.memorised_words, alpha=gate.alpha,
        f1_floor=SPAN_F1_FLOOR,
    )


def _spans(text: str, spans: Any) -> str:
    if spans is None:
        return "crashed"
    shown = [f"{label} {text[start:end]!r}" for start, end, label in sorted(tuple(s) for s in spans)
             if isinstance(start, int) and isinstance(end, int)]
    return "; ".join(shown[:8]) + (" …" if len(shown) > 8 else "") if shown else "none"


def misses_section(card: TaskCard, parent: ParentInfo, rng: random.Random, low: int = 4, high: int = 8) -> str:
    """4-8 train texts where parent 1's spans differ from the gold ones, each with both (seeded)."""
    examples = card.train.examples
    preds = parent.train_predictions or ()
    wrong = [i for i, (pred, ex) in enumerate(zip(preds, examples))
             if pred is None or sorted(map(tuple, pred)) != sorted(map(tuple, ex.label))]
    if not wrong:
        return ""
    picked = rng.sample(wrong, min(rng.randint(low, high), len(wrong)))
    lines = [f"- {examples[i].text[:300]!r}\n  gold: {_spans(examples[i].text, examples[i].label)}\n"
             f"  parent 1: {_spans(examples[i].text, preds[i])}" for i in picked]
    return ("## Train texts parent 1 gets wrong\nEach with its gold spans and the spans parent 1 found.\n"
            + "\n".join(lines) + "\n")
