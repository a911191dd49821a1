"""The one small protocol every proposer speaks, and what a proposer is allowed to see.

A proposer sees the task card and the *train* split only: never validation labels, never test.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from engine.records import Proposal, Split, Task


@dataclass(frozen=True)
class TaskCard:
    """The part of a task a proposer may see."""

    name: str
    kind: str
    description: str
    labels: tuple[Any, ...]
    train: Split

    @classmethod
    def of(cls, task: Task) -> TaskCard:
        return cls(task.name, task.kind, task.description, task.labels, task.train)


@dataclass(frozen=True)
class ParentInfo:
    """A scored skill the proposer may build on."""

    id: str
    code: str
    train_predictions: tuple[Any, ...]  # aligned with TaskCard.train; None where the skill failed
    train_score: float  # train MCC
    validation_score: float | None = None  # validation MCC, when it got that far
    specialist: bool = False  # kept for the train examples it gets right that the best member gets wrong


@dataclass(frozen=True)
class LibraryInfo:
    """A stored skill a new skill may call: `from skills import <import_name>`, then `<import_name>.solve(text)`."""

    import_name: str
    ref: str  # NAME@VERSION in the store: exactly this version is injected
    task: str
    kind: str  # what its solve returns: "classification" (a label) or "spans"
    description: str
    train_outputs: tuple[Any, ...] | None = None  # its outputs on the task's train texts, for proposers that ask


@dataclass(frozen=True)
class ProposalContext:
    task: TaskCard
    iteration: int  # 0-based
    parents: tuple[ParentInfo, ...]  # selected parents, best first; empty when nothing has scored yet
    last_reasons: tuple[str, ...] = ()  # the gate's reasons for the previous candidate(s)
    seed: int = 0  # a proposer's randomness comes from here, so runs repeat
    evidence: Any = None  # engine.evidence.Evidence of the current elite's train errors, when the loop has it
    libraries: tuple[LibraryInfo, ...] = ()  # stored skills offered to this run (evolve --library)
    slot: int = 0  # the candidate's place within its iteration (0 .. batch - 1)


class Proposer(Protocol):
    name: str
    model: str

    def propose(self, ctx: ProposalContext) -> Proposal: ...
