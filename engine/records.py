"""Typed, frozen records passed between the engine's parts (see design.md)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

SEED_ITERATION = -1  # stored skills a --reuse run re-scores are archived before iteration 0 ("seeds" in the report)

# Reasons that mean the evaluation cascade skipped a candidate, not that the gate failed it: the
# same program as an earlier one, the same outputs on all of train as an earlier one, or a validation
# score that cannot beat the run's best (engine/evaluate.py). They are counted apart from rejections.
SKIPS = {
    "duplicate": "the same program as an earlier candidate (layout, comments and own names aside)",
    "same_behaviour": "the same outputs as an earlier candidate on every train text",
    "not_better": "not above the run's best on validation, so not scored further (--score-all scores them)",
}


def is_skip(reasons) -> bool:
    """Whether a candidate's reasons say the cascade skipped it (and nothing failed in the gate)."""
    return bool(reasons) and all(r in SKIPS for r in reasons)


def split_reasons(reasons: dict[str, int]) -> tuple[dict[str, int], dict[str, int]]:
    """Reason counts split into (rejections by the gate, skips by the cascade), each largest first."""
    ordered = sorted(reasons.items(), key=lambda kv: -kv[1])
    return ({r: n for r, n in ordered if r not in SKIPS}, {r: n for r, n in ordered if r in SKIPS})


def sha256(code: str) -> str:
    """The hex sha256 of a skill's code, as the store keeps it."""
    return hashlib.sha256(code.encode()).hexdigest()


@dataclass(frozen=True)
class Example:
    text: str
    label: Any


@dataclass(frozen=True)
class Split:
    name: str
    examples: tuple[Example, ...]

    @property
    def texts(self) -> list[str]:
        return [e.text for e in self.examples]

    @property
    def labels(self) -> list[Any]:
        return [e.label for e in self.examples]

    def __len__(self) -> int:
        return len(self.examples)


@dataclass(frozen=True)
class Task:
    name: str
    kind: str  # "classification" or "spans"
    description: str
    labels: tuple[Any, ...]
    train: Split
    validation: Split
    test: Split
    metric: str  # the headline metric, e.g. "mcc"
    source: str = ""  # where the data came from, for the run record
    notes: tuple[str, ...] = ()  # what the loader found odd (a file shorter than the dataset's release): warnings

    def split(self, name: str) -> Split:
        return {"train": self.train, "validation": self.validation, "test": self.test}[name]

    def fingerprint(self) -> str:
        """sha256 of every split's texts and labels, in order: a run resumed on other data is refused."""
        digest = hashlib.sha256()
        for name in ("train", "validation", "test"):
            for ex in self.split(name).examples:
                digest.update(f"{name}\0{ex.text}\0{ex.label!r}\n".encode("utf-8", "surrogatepass"))
        return digest.hexdigest()

    @property
    def selection_key(self) -> str:
        return selection_key(self.kind)


def selection_key(kind: str) -> str:
    """The chance-corrected score the loop selects and versions by: MCC for labels, span F1 for spans."""
    return "f1" if kind == "spans" else "mcc"


MAX_TOKENS_A_CALL = 10**9  # more than any model reads or writes in one call: a larger count is malformed


@dataclass(frozen=True)
class TokenUsage:
    prompt: int = 0
    completion: int = 0

    @property
    def total(self) -> int:
        return self.prompt + self.completion

    @classmethod
    def counted(cls, prompt: Any, completion: Any) -> "TokenUsage":
        """Token counts as a server (or a transcript) reported them: whole numbers from 0 to MAX_TOKENS_A_CALL; None
        (Ollama leaves a cached prompt uncounted) is 0. Anything else raises ValueError: a negative
        count would lower the ledger and lift the --max-cost-usd cap."""
        out = []
        for value in (prompt, completion):
            if value is None:
                value = 0
            if type(value) is float and value.is_integer():
                value = int(value)
            if type(value) is not int or not 0 <= value <= MAX_TOKENS_A_CALL:
                raise ValueError(f"token counts must be whole numbers from 0 to {MAX_TOKENS_A_CALL:,} "
                                 f"(got {prompt!r} and {completion!r})")
            out.append(value)
        return cls(*out)


@dataclass(frozen=True)
class Proposal:
    code: str
    proposer: str
    model: str = ""
    usage: TokenUsage = TokenUsage()
    raw_text: str = ""
    parent_ids: tuple[str, ...] = ()
    note: str = ""  # one line saying what the proposer did (mutation kind, prompt id, ...)
    # The proposer's own computation of the skill's outputs on the train split, when it can make
    # one (the offline proposer can: it scores its rules on train itself). Never trusted by the
    # gate: the evaluator checks it against the real outputs on the train subset and only then
    # uses it to order the cascade and to keep a skill stopped at validation in the population.
    expected_train: tuple[Any, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """What the store keeps of a proposal not judged yet (not expected_train: only LLM answers are kept)."""
        return {"code": self.code, "proposer": self.proposer, "model": self.model,
                "usage": [self.usage.prompt, self.usage.completion], "raw_text": self.raw_text,
                "parent_ids": list(self.parent_ids), "note": self.note}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Proposal":
        prompt, completion = data.get("usage") or (0, 0)
        return cls(code=str(data["code"]), proposer=str(data["proposer"]), model=str(data.get("model") or ""),
                   usage=TokenUsage.counted(prompt, completion), raw_text=str(data.get("raw_text") or ""),
                   parent_ids=tuple(data.get("parent_ids") or ()), note=str(data.get("note") or ""))


@dataclass(frozen=True)
class Candidate:
    id: str
    run_id: str
    iteration: int
    code: str
    code_sha256: str
    parent_ids: tuple[str, ...]
    proposal: Proposal


@dataclass(frozen=True)
class PropertyOutcome:
    passed: bool
    detail: str = ""  # a shrunk counterexample or the reason it failed


@dataclass(frozen=True)
class ExecResult:
    """What the sandbox returns: raw outputs, never scored there (labels stay on the host)."""

    predictions: tuple[Any, ...] | None  # None when the run as a whole failed
    per_example_errors: dict[int, str] = field(default_factory=dict)
    timed_out: bool = False
    wall_s: float = 0.0
    properties: dict[str, PropertyOutcome] = field(default_factory=dict)
    failure: str = ""  # why the whole run failed (killed, memory, crash), "" when it ran

    @property
    def answered(self) -> bool:
        """Some example gave an output: False when the run failed as a whole or every call crashed,
        timed out or returned the wrong type. Then there is nothing to score (an MCC of -1 would
        read as a perfectly wrong skill)."""
        return self.predictions is not None and len(self.per_example_errors) < len(self.predictions)


@dataclass(frozen=True)
class Metrics:
    accuracy: float
    mcc: float
    f1: float
    balanced_accuracy: float
    n: int
    majority_accuracy: float
    p_value: float = 1.0  # one-sided Fisher exact test of association with the labels
    invalid: int = 0  # outputs that were no label (an error, a wrong type): scored as wrong
    p_floor: float | None = None  # a Monte Carlo test's smallest p, 1 / (rounds + 1); None for an exact test
    distinct: int | None = None  # the distinct texts the test counted, when fewer than n (a text repeated counts once)

    def to_dict(self) -> dict[str, float]:
        return {
            "invalid": self.invalid,
            "accuracy": self.accuracy,
            "mcc": self.mcc,
            "f1": self.f1,
            "balanced_accuracy": self.balanced_accuracy,
            "n": self.n,
            "majority_accuracy": self.majority_accuracy,
            "p_value": self.p_value,
            **({"p_floor": self.p_floor} if self.p_floor is not None else {}),
            **({"distinct": self.distinct} if self.distinct is not None else {}),
        }


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    reasons: tuple[str, ...]
    metrics: dict[str, Metrics]
    details: dict[str, str] = field(default_factory=dict)  # reason -> counterexample / numbers

    def to_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "reasons": list(self.reasons),
            "metrics": {k: m.to_dict() for k, m in self.metrics.items()},
            "details": dict(self.details),
        }


@dataclass(frozen=True)
class SkillVersion:
    name: str
    version: int
    task: str
    code: str
    code_sha256: str
    metrics: dict[str, dict[str, float]]
    verdict: dict[str, Any]
    parents: tuple[str, ...]
    provenance: dict[str, Any]
    created_at: str
    description: str = ""
    dependencies: dict[str, int] = field(default_factory=dict)  # stored skills it imports, pinned by version

    @property
    def edited(self) -> bool:
        """Its code no longer matches the sha256 stored with it: it was changed after the gate judged it."""
        return sha256(self.code) != self.code_sha256
