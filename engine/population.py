"""The run's population: distinct skills kept on islands, and how parents are picked.

- **Exact duplicates**: a normalised-AST hash (`ast_hash`: docstrings dropped, formatting and
  comments gone, the program's own names made canonical) recognises the same program written
  twice; the copy is not added. The loop uses the same hash to skip a copy before the sandbox.
- **Behavioural duplicates**: two members with the same train prediction vector behave the same;
  only the better one (train score, then shorter, then older) is kept. (The loop skips a candidate
  whose outputs on all of train equal an earlier one's before validation: engine/evaluate.py.)
- **Islands** (FunSearch): `islands` sub-populations of `size // islands` members each. A member
  lands on its parent's island (Member.parents), else on the next island in turn. Every
  `migrate_every` additions the island with the weakest best is reset to a copy of the global
  best, then the best of each island is copied to the next island (a ring).
- **Parent selection** (FunSearch's annealed cluster sampling): an island is drawn, its members
  are grouped in bands of train score (SCORE_BAND), a score group is drawn with probability
  softmax(score / T) where T anneals from T0 to 0 over each `anneal_period` additions, and
  within a group shorter programs are likelier (softmax of -length / mean length). Up to k
  distinct parents are drawn this way, best first.
- **Coverage**: with the train labels known, up to `coverage_slots` specialists are kept beside
  the islands: greedily, the members that get right the most train examples that the best
  member and the specialists chosen before them get wrong. A skill that is good on one slice
  survives beside the overall best, and is offered as a parent now and then.

Everything is a function of the order of `add` calls and the rng given to `select`.
"""
from __future__ import annotations

import ast
import builtins
import hashlib
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from sandbox.static import parse

T0 = 0.1  # initial sampling temperature (MCC units)
SCORE_BAND = 0.01  # a score group: the best member left and every one within this much train MCC below it
SPECIALIST_SHARE = 0.25  # how often a specialist replaces the last parent
MIN_GAIN = 5  # a specialist must add at least this many correctly classified train examples


@dataclass(frozen=True)
class Member:
    id: str
    code: str
    train_predictions: tuple[Any, ...]
    train_score: float  # train MCC
    validation_score: float | None
    accepted: bool
    length: int  # source length, the tie-breaker: shorter wins
    parents: tuple[str, ...] = ()  # ids of the members it was made from
    island: int = -1  # set by Population.add


def _drop_docstrings(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]


def _rename_bound_names(tree: ast.AST) -> None:
    """Give every name the program binds itself (variables, parameters, its own functions and classes)
    a canonical name by order of first appearance, so two programs that differ only in those names
    get one tree. Never renamed: `solve` (the harness calls it by name), builtins (shadowing one in one
    scope while using it in another must not make two programs look alike), imported names,
    attributes and keyword names."""
    imported = {(a.asname or a.name).split(".")[0] for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                for a in n.names}
    keep = imported | set(dir(builtins)) | {"solve"}
    bound: dict[str, str] = {}

    def bind(name: str) -> None:
        if name not in keep and name not in bound:
            bound[name] = f"<{len(bound)}>"  # no identifier: never the same as a name the source uses

    for node in ast.walk(tree):  # breadth first: the order depends on the tree's shape, not its names
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bind(node.id)
        elif isinstance(node, ast.arg):
            bind(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bind(node.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in bound:
            node.id = bound[node.id]
        elif isinstance(node, ast.arg) and node.arg in bound:
            node.arg = bound[node.arg]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in bound:
            node.name = bound[node.name]
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            node.names = [bound.get(n, n) for n in node.names]


def ast_hash(code: str) -> str:
    """A hash of the program's syntax tree without docstrings and with its own names made canonical:
    formatting, comments, docstrings and the names it picked for its variables do not count."""
    try:  # the source's own hash when it does not parse, or its tree is too deep to dump
        tree = parse(code)
        _drop_docstrings(tree)
        _rename_bound_names(tree)
        dumped = ast.dump(tree, annotate_fields=False, include_attributes=False)
    except (SyntaxError, RecursionError):
        return "src:" + hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()
    return "ast:" + hashlib.sha256(dumped.encode("utf-8", "surrogatepass")).hexdigest()


def score_groups(members: Sequence[Member]) -> dict[float, list[Member]]:
    """Members in bands of SCORE_BAND train MCC, keyed by each band's top score: the best member left opens a
    band that takes every member within SCORE_BAND below it. (Grouping by the score rounded to three places
    made almost every group one member, so a program 100 times longer was picked as often as a short one
    scoring 0.0002 less.)"""
    groups: dict[float, list[Member]] = {}
    top: float | None = None
    for m in sorted(members, key=_key):
        if top is None or m.train_score < top - SCORE_BAND:
            top = m.train_score
        groups.setdefault(top, []).append(m)
    return groups


def _key(m: Member) -> tuple:
    return (-m.train_score, m.length, m.id)


class Population:
    def __init__(self, size: int = 16, islands: int = 2, labels: Sequence[Any] | None = None,
                 migrate_every: int = 12, anneal_period: int = 40,
                 coverage_slots: int = 4):
        self.size = size
        self.n_islands = max(1, islands)
        self.per_island = max(2, size // self.n_islands)
        self.labels = tuple(labels) if labels is not None else None
        self.migrate_every = migrate_every
        self.anneal_period = anneal_period
        self.coverage_slots = coverage_slots
        self._islands: list[list[Member]] = [[] for _ in range(self.n_islands)]
        self._specialists: list[Member] = []
        self._hashes: dict[str, str] = {}  # AST hash -> member id, of every member ever added
        self._behaviours: dict[int, tuple[str, tuple[Any, ...]]] = {}  # hash of train predictions -> (id, preds)
        self._island_of: dict[str, int] = {}
        self._right: dict[str, np.ndarray] = {}  # member id -> correct on each train example
        self.adds = 0  # members accepted into the population (not duplicates)
        self.migrations = 0
        self.duplicates = {"ast": 0, "behaviour": 0}

    # ------------------------------------------------------------ queries

    def members(self) -> list[Member]:
        """Every distinct member kept (islands and specialists), best first."""
        seen: dict[str, Member] = {}
        for m in [m for island in self._islands for m in island] + self._specialists:
            seen.setdefault(m.id, m)
        return sorted(seen.values(), key=_key)

    def __len__(self) -> int:
        return len(self.members())

    def best(self) -> Member | None:
        kept = self.members()
        return kept[0] if kept else None

    def island(self, i: int) -> list[Member]:
        return list(self._islands[i])

    def specialists(self) -> list[Member]:
        return list(self._specialists)

    def is_duplicate_code(self, code: str) -> str | None:
        """The id of a member ever added with the same normalised syntax tree, else None."""
        return self._hashes.get(ast_hash(code))

    def stats(self) -> dict[str, Any]:
        return {
            "members": len(self), "islands": [len(i) for i in self._islands],
            "island_best": [round(i[0].train_score, 4) if i else None for i in self._islands],
            "specialists": len(self._specialists), "adds": self.adds, "migrations": self.migrations,
            "duplicates": dict(self.duplicates),
        }

    # ------------------------------------------------------------ adding

    def add(self, member: Member) -> None:
        digest = ast_hash(member.code)
        if digest in self._hashes:
            self.duplicates["ast"] += 1
            return
        preds = tuple(member.train_predictions)
        behaviour = hash(preds)
        twin = self._behaviours.get(behaviour)
        if twin is not None and twin[1] == preds:
            old = self._find(twin[0])
            if old is None or _key(old) <= _key(member):
                self.duplicates["behaviour"] += 1
                self._hashes[digest] = twin[0]
                return
            self._remove(old.id)  # the newcomer behaves the same and is better (shorter): it replaces
        self._hashes[digest] = member.id
        self._behaviours[behaviour] = (member.id, preds)
        island = self._home(member)
        member = replace(member, island=island)
        self._island_of[member.id] = island
        if self.labels is not None and len(preds) == len(self.labels):
            self._right[member.id] = np.array([p is not None and p == y for p, y in zip(preds, self.labels)])
        self.adds += 1
        before = {m.id: m for m in self._islands[island]}
        self._place(island, member)
        evicted = [m for i, m in before.items() if i not in {x.id for x in self._islands[island]}]
        self._cover(member, evicted)
        if self.migrate_every and self.adds % self.migrate_every == 0:
            self.migrate()

    def _home(self, member: Member) -> int:
        """The island the parents were drawn from (select() draws them from one): the island holding every
        parent; when several do (a migrated parent lives on two), the one with fewer members, so an island
        restarted from the global best grows from it (its children all went back to the best's first island,
        and the restarted island stayed one member); when none does (a specialist parent, or one evicted since),
        an island holding the first (best) parent, else a parent's first island; no parents: round robin."""
        def holding(ids: Sequence[str]) -> list[int]:
            return [i for i, island in enumerate(self._islands) if all(any(m.id == p for m in island) for p in ids)]

        if member.parents:
            found = holding(member.parents) or holding(member.parents[:1])
            if found:
                return min(found, key=lambda i: (len(self._islands[i]), i))
            for parent in member.parents:
                if parent in self._island_of:
                    return self._island_of[parent]
        return self.adds % self.n_islands

    def _place(self, island: int, member: Member) -> None:
        members = self._islands[island]
        if any(m.id == member.id for m in members):
            return
        members.append(member)
        members.sort(key=_key)
        del members[self.per_island :]

    def _find(self, member_id: str) -> Member | None:
        return next((m for m in self.members() if m.id == member_id), None)

    def _remove(self, member_id: str) -> None:
        for island in self._islands:
            island[:] = [m for m in island if m.id != member_id]
        self._specialists = [m for m in self._specialists if m.id != member_id]

    def _cover(self, member: Member, evicted: Sequence[Member] = ()) -> None:
        """Re-choose the specialists (greedy set cover) among every member kept, the newcomer, and the
        members its arrival pushed off their island: a slice the best gets wrong keeps whoever covers it,
        also when a new best takes over (choosing only among the old specialists lost such a slice)."""
        if self.labels is None or not self.coverage_slots or member.id not in self._right:
            return
        best = self.best()
        if best is None or best.id not in self._right:
            return
        everyone = [m for island in self._islands for m in island] + self._specialists + [member, *evicted]
        pool = {m.id: m for m in everyone if m.id in self._right}
        pool.pop(best.id, None)
        covered = self._right[best.id].copy()
        chosen: list[Member] = []
        while pool and len(chosen) < self.coverage_slots:
            gains = {i: int((self._right[i] & ~covered).sum()) for i in pool}
            top = max(pool.values(), key=lambda m: (gains[m.id], -_key(m)[0], -m.length, m.id))
            if gains[top.id] < MIN_GAIN:
                break
            chosen.append(top)
            covered |= self._right[top.id]
            del pool[top.id]
        self._specialists = chosen

    def migrate(self) -> None:
        """The weakest island restarts from the global best, then each island's best joins the next (a ring)."""
        if self.n_islands < 2:
            return
        self.migrations += 1
        overall = self.best()
        scored = [(island[0].train_score if island else -math.inf, i) for i, island in enumerate(self._islands)]
        _, weakest = min(scored)
        if overall is not None and not any(m.id == overall.id for m in self._islands[weakest]):
            self._islands[weakest] = [overall]
        bests = [island[0] if island else None for island in self._islands]
        for i, m in enumerate(bests):
            if m is not None:
                self._place((i + 1) % self.n_islands, m)

    # ------------------------------------------------------------ selecting

    def temperature(self) -> float:
        period = max(1, self.anneal_period)
        return T0 * (1 - (self.adds % period) / period) + 1e-3

    def select(self, rng: random.Random, k: int) -> list[Member]:
        """Up to k distinct parents from one island by annealed cluster sampling, best first."""
        occupied = [i for i, island in enumerate(self._islands) if island]
        if not occupied or k <= 0:
            return []
        pool = list(self._islands[rng.choice(occupied)])
        chosen: list[Member] = []
        temperature = self.temperature()
        while pool and len(chosen) < k:
            groups = score_groups(pool)
            scores = sorted(groups, reverse=True)
            top = scores[0]
            weights = [math.exp((s - top) / temperature) for s in scores]
            group = groups[rng.choices(scores, weights=weights)[0]]
            mean_len = sum(m.length for m in group) / len(group) or 1.0
            shortest = min(m.length for m in group)
            pick = rng.choices(group, weights=[math.exp(-(m.length - shortest) / mean_len) for m in group])[0]
            chosen.append(pick)
            pool.remove(pick)
        taken = {m.id for m in chosen}
        others = [m for m in self._specialists if m.id not in taken]
        if others and k >= 2 and rng.random() < SPECIALIST_SHARE:
            if len(chosen) >= k:
                chosen.pop()
            chosen.append(rng.choice(others))
        return sorted(chosen, key=_key)
