"""The run's population: the best-scoring distinct skills so far, and how parents are picked."""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Member:
    id: str
    code: str
    train_predictions: tuple[Any, ...]
    train_score: float  # train MCC
    validation_score: float | None
    accepted: bool
    length: int  # source length, the tie-breaker: shorter wins


class Population:
    def __init__(self, size: int = 16):
        self.size = size
        self._members: list[Member] = []

    def __len__(self) -> int:
        return len(self._members)

    def add(self, member: Member) -> None:
        if any(m.code == member.code for m in self._members):
            return
        self._members.append(member)
        self._members.sort(key=lambda m: (-m.train_score, m.length, m.id))
        del self._members[self.size :]

    def best(self) -> Member | None:
        return self._members[0] if self._members else None

    def select(self, rng: random.Random, k: int) -> list[Member]:
        """k parents by tournaments of two, best first; the elite is always among them."""
        if not self._members:
            return []
        chosen = [self._members[0]]
        pool = self._members[1:]
        while pool and len(chosen) < k:
            a, b = rng.choice(pool), rng.choice(pool)
            winner = a if (a.train_score, -a.length) >= (b.train_score, -b.length) else b
            chosen.append(winner)
            pool.remove(winner)
        return sorted(chosen, key=lambda m: (-m.train_score, m.length))
