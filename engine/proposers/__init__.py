"""Proposers: where candidate skills come from. `offline` needs no LLM and is the default."""
from __future__ import annotations

from engine.errors import SkillkilnError
from engine.proposers.base import Proposer

PROPOSERS = ("offline",)


def make_proposer(name: str, seed: int) -> Proposer:
    if name == "offline":
        from engine.proposers.offline import OfflineProposer

        return OfflineProposer(seed=seed)
    raise SkillkilnError(f"unknown proposer {name!r}; known: {', '.join(PROPOSERS)}")
