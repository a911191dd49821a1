"""Every prompt an LLM sees, built from the templates below.

A proposal prompt holds: the task card (labels, signature, allowed imports, limits, the rules
the static gate enforces), 2-3 few-shot working skills (built in, or stored skills the caller
passes), the parents' code with their scores (a specialist among them is never the one cut), 6-12
misclassified train examples of the first parent (spread over labels and lengths), the largest
failure clusters of the run's best skill that no other skill solves, with representative examples
(engine/evidence.py), and what the gate said about the last candidates.
Only the train split ever appears: a ProposalContext carries no validation or test examples.
Every random choice comes from `ctx.seed`, so a run's prompts repeat.
"""
from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass
from string import Template
from typing import Any, Sequence

from engine import prompts_spans as spans
from engine.gate import GateConfig
from engine.prompt_rules import CODE_RULES, MEMORY_RULES
from engine.proposers.base import ParentInfo, ProposalContext, TaskCard
from sandbox.backend import ALLOWED_IMPORTS, Limits
from sandbox.static import MAX_SOURCE_BYTES

SYSTEM = (
    "You write small, honest Python classifiers called skills: one pure function solve(text) built from "
    "readable rules (regular expressions, word lists, counts, thresholds). Skills run in a locked sandbox "
    "with no network, no files and no third-party packages. Follow the answer format exactly; "
    "code goes in a fenced ```python block."
)

TASK_CARD = Template("""## Task: $name
$description

Labels: $labels. Train split: $n_train labelled examples ($distribution).

Write a skill: Python 3.11 source that defines, at top level,

    def solve(text):
        ...
        return LABEL   # one of $labels

Rules, checked before anything runs:
""" + CODE_RULES + """\
- depends on its input: a constant or nearly constant answer ($max_share_pct+ of one label) is rejected
""" + MEMORY_RULES + """\
- the gate accepts a skill only if its predictions are associated with the labels beyond chance on train
  and on held-out data (one-sided Fisher exact test p < $alpha, MCC >= $mcc_floor, balanced accuracy >= $bacc_floor).
  Always answering the majority label scores $majority accuracy and MCC 0: worthless.
""")

FEW_SHOT_HEADER = "## Working skills (they pass the rules above; use their style, not their content)\n"

PARENTS_HEADER = "## Parent skills, best first (train MCC; validation MCC where they got that far)\n"

MISSES = Template("""## Train examples parent 1 gets wrong
The label shown is the correct one; parent 1 answered otherwise.
$lines
""")

FEEDBACK = Template("""## What the gate said about the last candidate(s)
$lines
""")

DIRECTIVES = (
    "Add one or two new rules that catch several of the misclassified examples above without hurting the rest.",
    "Refine the rules of parent 1 that cause most of its errors: adjust patterns, word lists or the threshold.",
    "Simplify parent 1: drop rules that do not pay for themselves, then add the one rule that helps most.",
    "Combine the best ideas of the parents into one skill that beats each of them.",
    "Rethink the weights and the threshold of parent 1 so both labels are predicted in sensible proportions.",
)

FIRST_TASK = ("Write a first skill for this task: several general rules that separate the labels, "
              "combined by a score and a threshold. Both labels must occur in its answers.")

FORMAT_FULL = "Answer with the complete skill in one ```python block (a sentence before it is fine)."

FORMAT_EDIT = """Answer with EITHER the complete new skill in one ```python block, OR edits to parent 1 as
SEARCH/REPLACE blocks (SEARCH copies lines of parent 1 exactly; several edits may follow each other):

<<<<<<< SEARCH
lines copied from parent 1
=======
the lines that replace them
>>>>>>> REPLACE"""

REPAIR = Template("""$card
## Your previous answer could not be used
It failed the static check with this error:

    $error

$shown
Reply with the whole corrected skill in one ```python block. Keep its ideas; fix what the error names.
""")

BASELINE_SYSTEM = "You are a careful annotator. Answer exactly in the requested format, nothing else."

BASELINE = Template("""$description

For each numbered text below, answer with its label ($labels), one line per text, as `NUMBER: LABEL`.

$lines
""")

# what each gate reason means, so the model can act on it
EXPLAIN = {
    "duplicate": "the same code was already evaluated; propose something different",
    "static:syntax": "the code did not parse",
    "static:no_solve": "no top-level def solve(text)",
    "static:import": "an import outside the allow-list",
    "static:restricted": "a construct the sandbox forbids (names starting with _, exec, eval, ...)",
    "static:too_large": "the source is over the size cap",
    "static:opaque": "encoded data (base64, hex, bytes, big-integer tables): write rules a reader can check",
    "constant_output": "(nearly) always the same label: the skill barely looks at its input",
    "not_significant": "predictions are not associated with the labels beyond chance",
    "mcc_floor": "MCC below the floor",
    "balanced_accuracy_floor": "balanced accuracy below the floor",
    "crash": "solve raised on some texts: it must be total",
    "timeout": "too slow",
    "bad_output": "returned something that is not a label",
    "memorised:source": "a string literal copies training text",
    "memorised:gap": "train accuracy far above held-out accuracy: the rules memorise",
    "leaked:gap": "held-out accuracy far above train accuracy: the skill holds held-out answers",
    "property": "a property test failed (total, deterministic, labels only, sensitive to input, the same answers "
                "in another order and process)",
}


def explain(reason: str, kind: str = "classification") -> str:
    table = {**EXPLAIN, **spans.EXPLAIN} if kind == "spans" else EXPLAIN
    if reason in table:
        return table[reason]
    head = reason.split(":")[0]
    return table.get(head, "")


# ---------------------------------------------------------------- built-in few-shot skills

_FEW_SHOT = (
    Template('''"""Counts tell-tale words; enough of them means $neg."""
import re

CUES = {"himself": 2, "herself": 2, "whom": 1}
THRESHOLD = 2


def solve(text):
    words = re.findall(r"[a-z']+", text.lower())
    score = sum(CUES.get(w, 0) for w in words)
    return $neg if score >= THRESHOLD else $pos
'''),
    Template('''"""Weighted regular expressions, summed and compared with a threshold."""
import re

RULES = [
    (re.compile(r"(?i)\\b(\\w+) \\1\\b"), 3),          # a doubled word
    (re.compile(r"(?i)\\b(?:a|an) (?:a|an|the)\\b"), 3),  # two articles in a row
    (re.compile(r"[^.?!]\\s*$$"), 1),                  # no final punctuation
]
THRESHOLD = 3


def solve(text):
    text = text[:2000]
    score = 0
    for pattern, weight in RULES:
        if pattern.search(text):
            score += weight
    return $neg if score >= THRESHOLD else $pos
'''),
    Template('''"""Shape features: length and punctuation, combined into one score."""
from collections import Counter


def solve(text):
    words = text.split()
    if not words:
        return $neg
    counts = Counter(w.lower() for w in words)
    repeated = sum(n - 1 for n in counts.values() if n > 1)
    score = repeated * 2 + (1 if len(words) > 25 else 0) - (1 if text.rstrip().endswith(".") else 0)
    return $neg if score >= 2 else $pos
'''),
)


def builtin_examples(labels: Sequence[Any]) -> list[str]:
    """The built-in few-shot skills, written for LABELS (the last is the 'positive' one)."""
    pos, neg = (labels[-1], labels[0]) if len(labels) >= 2 else (labels[0], labels[0])
    return [t.substitute(pos=repr(pos), neg=repr(neg)) for t in _FEW_SHOT]


# ---------------------------------------------------------------- sections


def task_card(card: TaskCard, limits: Limits = Limits(), gate: GateConfig = GateConfig()) -> str:
    if card.kind == "spans":
        return spans.task_card(card, limits, gate)
    labels = card.train.labels
    counts = Counter(labels)
    n = len(labels) or 1
    majority = max(counts.values()) / n if counts else 0.0
    distribution = ", ".join(f"{lab!r}: {counts.get(lab, 0)} ({counts.get(lab, 0) / n:.0%})" for lab in card.labels)
    return TASK_CARD.substitute(
        name=card.name, description=card.description, labels=", ".join(repr(x) for x in card.labels),
        n_train=len(labels), distribution=distribution, imports=", ".join(ALLOWED_IMPORTS),
        max_bytes=MAX_SOURCE_BYTES, call_s=limits.call_s, wall_s=int(limits.wall_s),
        max_share_pct=f"{gate.max_label_share:.0%}", memorised=gate.memorised_words, alpha=gate.alpha,
        mcc_floor=gate.mcc_floor, bacc_floor=gate.balanced_accuracy_floor, majority=f"{majority:.0%}",
    )


def few_shot(examples: Sequence[str], rng: random.Random) -> str:
    chosen = list(examples)
    rng.shuffle(chosen)
    chosen = chosen[: 3 if len(chosen) >= 3 else len(chosen)]
    if len(chosen) == 3 and rng.random() < 0.5:
        chosen = chosen[:2]
    parts = [FEW_SHOT_HEADER]
    for i, code in enumerate(chosen, 1):
        parts.append(f"### Example {i}\n```python\n{code.rstrip()}\n```\n")
    return "\n".join(parts)


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


PARENT_CHARS = 6000  # parents after the first are cut to this many characters


def parents_section(parents: Sequence[ParentInfo], metric: str = "MCC") -> str:
    parts = [PARENTS_HEADER.replace("MCC", metric)]
    for i, p in enumerate(parents, 1):
        code = p.code.rstrip()
        cut = ""
        if i > 1 and len(code) > PARENT_CHARS:
            code, cut = code[:PARENT_CHARS], "\n# ... (cut here)"
        kept = "; kept as a specialist: right on train examples the best skill gets wrong" if p.specialist else ""
        parts.append(f"### Parent {i} (train {metric} {_score(p.train_score)}, validation {metric} "
                     f"{_score(p.validation_score)}{kept})\n```python\n{code}{cut}\n```\n")
    return "\n".join(parts)


def pick_misclassified(card: TaskCard, predictions: Sequence[Any], rng: random.Random,
                       low: int = 6, high: int = 12) -> list[tuple[int, Any]]:
    """6-12 (index, prediction) pairs of train examples the predictions get wrong, spread over the
    true labels and over text lengths (short, middling, long); seeded."""
    examples = card.train.examples
    wrong: dict[Any, list[int]] = {}
    for i, (pred, ex) in enumerate(zip(predictions, examples)):
        if pred is None or pred != ex.label:
            wrong.setdefault(ex.label, []).append(i)
    total = sum(len(v) for v in wrong.values())
    if not total:
        return []
    k = min(rng.randint(low, high), total)
    labels = sorted(wrong, key=repr)
    # quotas: round-robin over labels, so each label with errors gets its share
    quota = Counter()
    while sum(quota.values()) < k:
        for lab in labels:
            if sum(quota.values()) < k and quota[lab] < len(wrong[lab]):
                quota[lab] += 1
    chosen: list[int] = []
    for lab in labels:
        group = sorted(wrong[lab], key=lambda i: (len(examples[i].text), i))
        q = quota[lab]
        for j in range(q):  # one from each length stratum
            lo, hi = j * len(group) // q, max((j + 1) * len(group) // q, j * len(group) // q + 1)
            chosen.append(group[rng.randrange(lo, hi)])
    rng.shuffle(chosen)
    return [(i, predictions[i]) for i in chosen]


def misses_section(card: TaskCard, parent: ParentInfo, rng: random.Random) -> str:
    picked = pick_misclassified(card, parent.train_predictions, rng)
    if not picked:
        return ""
    lines = []
    for i, pred in picked:
        ex = card.train.examples[i]
        said = "crashed" if pred is None else f"said {pred!r}"
        lines.append(f"- label {ex.label!r} ({said}): {ex.text[:300]!r}")
    return MISSES.substitute(lines="\n".join(lines))


CLUSTERS_HEADER = ("## Where the best skill so far fails\n"
                   "The train examples it gets wrong, grouped by similar wording: the largest groups no other skill of "
                   "the run solves, each with the two examples nearest its centre.")


def clusters_section(evidence: Any, card: TaskCard, groups: int = 3, per_group: int = 2) -> str:
    """The largest unsolved failure clusters of the run's best skill, each with its size, true labels,
    words and representative examples; empty before the run has an elite."""
    clusters = evidence.unsolved()[:groups] if evidence is not None else []
    if not clusters:
        return ""
    span_task = card.kind == "spans"
    lines = [CLUSTERS_HEADER]
    for n, c in enumerate(clusters, 1):
        labels = "" if span_task else " (true labels " + ", ".join(f"{k!r}: {v}" for k, v in c.labels.items()) + ")"
        words = f"; frequent words: {', '.join(c.terms)}" if c.terms else ""
        lines.append(f"Group {n}: {c.size} examples{labels}{words}")
        for i in c.indices[:per_group]:
            text, label, said = evidence.texts[i], evidence.labels[i], evidence.predictions[i]
            if span_task:
                gold = ", ".join(f"{text[s:e]!r} {lab}" for s, e, lab in list(label)[:6]) or "none"
                lines.append(f"- {text[:300]!r}: gold spans {gold}")
            else:
                lines.append(f"- label {label!r} ({'crashed' if said is None else f'said {said!r}'}): {text[:300]!r}")
    return "\n".join(lines) + "\n"


def shown_parents(parents: Sequence[ParentInfo], most: int) -> tuple[ParentInfo, ...]:
    """The first MOST parents (best first), a specialist among the rest taking the last place: it is
    offered for what the others miss, so it must not be the one cut."""
    shown = list(parents[:most])
    extra = next((p for p in parents[most:] if p.specialist), None)
    if extra is not None and shown and not any(p.specialist for p in shown):
        shown[-1] = extra
    return tuple(shown)


# a stored candidate's id: RUN-ITERATION-SLOT, the run id being the UTC time and six hex digits
CANDIDATE_ID = re.compile(r"\bcandidate \d{8}-\d{6}-[0-9a-f]{6}-(\d{3})-(\d+)\b")


def within_run(detail: str) -> str:
    """A gate detail as a prompt quotes it: candidates named by iteration and slot, not by id. The
    run id in an id changes with every run, so a replayed run's prompts would not match their
    recording (and the model has no use for it)."""
    return CANDIDATE_ID.sub(lambda m: f"the candidate of iteration {int(m[1])} (slot {m[2]})", detail)


def feedback_section(reasons: Sequence[str], details: dict[str, str] | None = None,
                     kind: str = "classification") -> str:
    if not reasons:
        return ""
    details = details or {}
    lines = []
    for reason in reasons[:12]:
        why = explain(reason, kind)
        line = f"- {reason}" + (f": {why}" if why else "")
        if details.get(reason):
            line += f" ({within_run(details[reason])[:240]})"
        lines.append(line.replace("\n", " "))
    return FEEDBACK.substitute(lines="\n".join(lines))


def libraries_section(libraries: Sequence[Any]) -> str:
    """Stored skills the new skill may call (evolve --library), each with what its solve returns."""
    if not libraries:
        return ""
    lines = []
    for lib in libraries:
        returns = "a list of (start, end, label) spans" if lib.kind == "spans" else "a label"
        lines.append(f"- `from skills import {lib.import_name}`: `{lib.import_name}.solve(text)` returns {returns} "
                     f"(stored skill {lib.ref}, task {lib.task}). {lib.description[:300]}")
    return ("## Skills you may call\nThese accepted skills are available inside the sandbox; import only these "
            "from `skills`, and only if they help:\n" + "\n".join(lines) + "\n")


# ---------------------------------------------------------------- whole prompts


@dataclass(frozen=True)
class Prompt:
    system: str
    user: str
    parents: tuple[ParentInfo, ...]  # the parents shown; edits apply to parents[0]
    directive: str

    @property
    def parent_code(self) -> str | None:
        return self.parents[0].code if self.parents else None


def proposal_prompt(ctx: ProposalContext, strategy: str = "evolve", examples: Sequence[str] | None = None,
                    details: dict[str, str] | None = None, max_parents: int = 3,
                    limits: Limits = Limits(), gate: GateConfig = GateConfig()) -> Prompt:
    """The prompt for one proposal. `best-of-n` shows the initial prompt only: no parents, no feedback."""
    rng = random.Random(ctx.seed)
    card = ctx.task
    span_task = card.kind == "spans"
    shots = list(examples) if examples else (spans.builtin_examples() if span_task else builtin_examples(card.labels))
    parts = [task_card(card, limits, gate), few_shot(shots, rng)]
    offered = libraries_section(getattr(ctx, "libraries", ()))
    if offered:
        parts.append(offered)
    parents: tuple[ParentInfo, ...] = ()
    if strategy != "best-of-n":
        parents = shown_parents(ctx.parents, max_parents)
    if parents and span_task:
        directive = rng.choice(spans.DIRECTIVES if len(parents) > 1 else spans.DIRECTIVES[:3])
        parts.append(parents_section(parents, "F1"))
        misses = spans.misses_section(card, parents[0], rng)
        if misses:
            parts.append(misses)
    elif parents:
        directive = rng.choice(DIRECTIVES if len(parents) > 1 else DIRECTIVES[:3] + DIRECTIVES[4:])
        parts.append(parents_section(parents))
        misses = misses_section(card, parents[0], rng)
        if misses:
            parts.append(misses)
    else:
        directive = spans.FIRST_TASK if span_task else FIRST_TASK
    clusters = clusters_section(getattr(ctx, "evidence", None), card) if parents else ""
    if clusters:
        parts.append(clusters)
    if strategy != "best-of-n":
        feedback = feedback_section(ctx.last_reasons, details, card.kind)
        if feedback:
            parts.append(feedback)
    parts.append(f"## Your turn\n{directive}\n\n{FORMAT_EDIT if parents else FORMAT_FULL}\n")
    return Prompt(SYSTEM, "\n".join(parts), parents, directive)


def repair_prompt(card: TaskCard, error: str, answer: str, code: str | None, parent_code: str | None,
                  limits: Limits = Limits(), gate: GateConfig = GateConfig()) -> str:
    """One repair round: the rules, the exact error, and what failed (the code, or the answer itself)."""
    if code is not None and code.strip() and code.strip() != answer.strip():
        shown = f"The code:\n```python\n{code.rstrip()[:8000]}\n```\n"
    else:
        shown = f"Your answer was:\n~~~~\n{answer.strip()[:4000]}\n~~~~\n"
    if parent_code and "SEARCH" in error:
        shown += f"\nParent 1, which the edits were meant for:\n```python\n{parent_code.rstrip()[:8000]}\n```\n"
    return REPAIR.substitute(card=task_card(card, limits, gate), error=error, shown=shown)


def baseline_prompt(description: str, labels: Sequence[Any], texts: Sequence[str]) -> tuple[str, str]:
    lines = "\n".join(f"{i}: {t!r}" for i, t in enumerate(texts, 1))
    return BASELINE_SYSTEM, BASELINE.substitute(description=description, labels=", ".join(repr(x) for x in labels),
                                                lines=lines)
