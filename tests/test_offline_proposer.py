"""Tests of the offline (rule-evolving) proposer on CoLA's train split."""
from __future__ import annotations

import ast
import os
import re
import time
from pathlib import Path

os.environ.setdefault("SKILLKILN_DATA_DIR", str(Path(__file__).resolve().parents[2] / "shared" / "data"))

import numpy as np
import pytest

from engine.errors import SkillkilnError
from engine.proposers.base import ParentInfo, ProposalContext, TaskCard
from engine.proposers.offline import (
    FeatureBank,
    Genome,
    OfflineProposer,
    best_threshold,
    mcc_at,
    parse_genome,
    render,
)
from engine.records import Proposal
from tasks.metrics import confusion, mcc_from_confusion

ALLOWED_IMPORTS = {"re", "math", "string", "collections", "itertools", "functools", "unicodedata"}
WORDS = re.compile(r"[a-z0-9']+")


@pytest.fixture(scope="module")
def bank(proposer: OfflineProposer, card: TaskCard) -> FeatureBank:
    return proposer.bank(card)


def solve_of(code: str):
    namespace: dict = {}
    exec(compile(code, "<skill>", "exec"), namespace)  # noqa: S102 - the sandbox's job, in-process here
    return namespace["solve"]


def as_parent(code: str, bank: FeatureBank, pid: str) -> ParentInfo:
    genome = parse_genome(code)
    assert genome is not None
    scores = bank.scores(genome)
    preds = tuple(int(p) for p in np.where(scores >= genome.threshold, 0, 1))
    return ParentInfo(pid, code, preds, mcc_at(scores, bank.flagged, genome.threshold))


def ctx(card: TaskCard, iteration: int, *parents: ParentInfo, seed: int = 0) -> ProposalContext:
    return ProposalContext(task=card, iteration=iteration, parents=tuple(parents), seed=seed)


def string_literals(code: str) -> list[str]:
    """Every string constant, and the one-word keys of each dict read in order as one text."""
    out = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            out.append(node.value)
        if isinstance(node, ast.Dict):
            keys = [k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)]
            out.append(" ".join(k for k in keys if len(k.split()) == 1))
    return out


def test_render_parse_round_trip() -> None:
    genome = Genome(
        {
            ("word", "himself"): 2,
            ("word", "don't"): -1,
            ("bigram", "to the"): -3,
            ("pattern", r"(?i)\b(\w+) \1\b"): 3,
            ("pattern", 'say "hi"\\'): 1,  # needs repr(), not a raw string
            ("pattern", r"\?\W*$"): -2,
        },
        threshold=4,
    )
    code = render(genome, "cola")
    assert parse_genome(code) == genome
    assert parse_genome(render(Genome({}, -1), "cola")) == Genome({}, -1)


@pytest.mark.parametrize(
    "code",
    ["def solve(text):\n    return 1\n", "this is not python (", "WORD_WEIGHTS = {}\nTHRESHOLD = 1\n",
     "WORD_WEIGHTS = {'a': 'x'}\nBIGRAM_WEIGHTS = {}\nPATTERN_WEIGHTS = []\nTHRESHOLD = 1\n"],
)
def test_parse_rejects_other_code(code: str) -> None:
    assert parse_genome(code) is None


def test_same_seed_same_code(card: TaskCard, bank: FeatureBank) -> None:
    first, second = OfflineProposer(seed=3, start_fit=False), OfflineProposer(seed=3, start_fit=False)
    first._banks = second._banks = {(id(card.train), ()): bank}  # share the (deterministic) bank: saves time
    a, b = first.propose(ctx(card, 0)), second.propose(ctx(card, 0))
    assert a == b
    parent = as_parent(a.code, bank, "p0")
    assert first.propose(ctx(card, 1, parent)) == second.propose(ctx(card, 1, parent))
    other = OfflineProposer(seed=4, start_fit=False)
    other._banks = {(id(card.train), ()): bank}
    assert other.propose(ctx(card, 0)).code != a.code


def test_rendered_code_passes_the_gate_rules(proposer: OfflineProposer, card: TaskCard) -> None:
    proposal = proposer.propose(ctx(card, 0, seed=11))
    code = proposal.code
    assert isinstance(proposal, Proposal) and proposal.proposer == "offline" and proposal.model == "rules-v3"
    assert proposal.usage.total == 0 and proposal.note
    assert len(code.encode()) < 20_000
    tree = ast.parse(code)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert {a.name for a in node.names} <= ALLOWED_IMPORTS
        assert not isinstance(node, ast.ImportFrom)
        if isinstance(node, ast.Name):
            assert not node.id.startswith("_") and node.id not in {"getattr", "eval", "exec", "open"}
        if isinstance(node, ast.Attribute):
            assert not node.attr.startswith("_")


def test_solve_is_total(proposer: OfflineProposer, card: TaskCard) -> None:
    solve = solve_of(proposer.propose(ctx(card, 0, seed=12)).code)
    texts = [
        "",
        " ",
        "a" * 100_000,
        ("who the the " * 10_000)[:100_000],
        "".join(chr(c) for c in range(32)) + "\x7f\u200b\ufeff",
        "I 💥 like 🐍 emoji 👍🏽?",
        "Ünïcödé wörds, ΑΒΓ, 漢字, \u0130stanbul, \ufb01ne.",
        "The cat sat on the mat.",
    ]
    for text in texts:
        started = time.perf_counter()
        assert solve(text) in (0, 1)
        assert time.perf_counter() - started < 2.0
        assert solve(text) == solve(text)


def test_fresh_proposal_predicts_both_labels(proposer: OfflineProposer, card: TaskCard, bank: FeatureBank) -> None:
    proposal = proposer.propose(ctx(card, 0, seed=13))
    assert proposal.parent_ids == ()
    solve = solve_of(proposal.code)
    preds = [solve(text) for text in card.train.texts]
    assert set(preds) == {0, 1}
    genome = parse_genome(proposal.code)
    assert genome is not None and 0 < len(genome.weights) <= 80
    # the proposer's own view of the skill matches what the skill does
    expected = np.where(bank.scores(genome) >= genome.threshold, 0, 1)
    assert preds == expected.tolist()


def test_mutation_differs_and_names_its_parent(proposer: OfflineProposer, card: TaskCard, bank: FeatureBank) -> None:
    first = as_parent(proposer.propose(ctx(card, 0, seed=14)).code, bank, "parent-1")
    second = as_parent(proposer.propose(ctx(card, 0, seed=15)).code, bank, "parent-2")
    codes = {p.id: p.code for p in (first, second)}
    notes = set()
    for iteration in range(1, 25):
        child = proposer.propose(ctx(card, iteration, first, second, seed=14))
        notes.add(child.note.split()[0])
        assert set(child.parent_ids) <= set(codes)
        assert child.code not in codes.values()
        if not child.note.startswith("restart"):
            assert child.parent_ids  # a mutation names the parent(s) it changed
    assert {"induce", "crossover"} <= notes and len(notes) >= 4  # the main move, and a spread of others
    only_first = proposer.propose(ctx(card, 30, first, seed=14))
    assert only_first.parent_ids in {("parent-1",), ()} and only_first.code != first.code


def test_no_literal_memorises_training_text(proposer: OfflineProposer, card: TaskCard, bank: FeatureBank) -> None:
    sentences = [WORDS.findall(t.lower()) for t in card.train.texts]
    five_grams = {tuple(w[i : i + 5]) for w in sentences for i in range(len(w) - 4)}
    whole = {" ".join(w) for w in sentences}
    parent = as_parent(proposer.propose(ctx(card, 0, seed=16)).code, bank, "p")
    codes = [parent.code] + [proposer.propose(ctx(card, i, parent, seed=16)).code for i in range(1, 6)]
    for code in codes:
        for literal in string_literals(code):
            for text in (literal, literal[::-1]):
                words = WORDS.findall(text.lower())
                assert len(words) < 3 or " ".join(words) not in whole, literal
                assert not any(tuple(words[i : i + 5]) in five_grams for i in range(len(words) - 4)), literal


def test_parent_in_another_form_gives_a_fresh_skill(proposer: OfflineProposer, card: TaskCard) -> None:
    foreign = ParentInfo("llm-1", "def solve(text):\n    return 1\n", tuple([1] * len(card.train)), 0.0)
    proposal = proposer.propose(ctx(card, 1, foreign, seed=17))
    assert proposal.parent_ids == () and parse_genome(proposal.code) is not None


def test_unsafe_parent_features_are_dropped(proposer: OfflineProposer, card: TaskCard, bank: FeatureBank) -> None:
    whole = next(" ".join(w) for w in bank.words if len(w) == 2)  # a train text of two words
    bad = [("bigram", whole), ("pattern", "(unclosed"), ("word", "a b c")]
    genome = Genome({bad[0]: 5, ("word", "himself"): 2, bad[1]: 1, bad[2]: 1}, 1)
    parent = as_parent(render(genome, "cola"), bank, "old")
    for iteration in range(1, 6):
        child = parse_genome(proposer.propose(ctx(card, iteration, parent, seed=18)).code)
        assert child is not None and not set(bad) & set(child.weights)


def test_short_loop_improves_train_mcc(card: TaskCard, bank: FeatureBank) -> None:
    proposer = OfflineProposer(seed=1, start_fit=False)
    proposer._banks = {(id(card.train), ()): bank}
    population: list[ParentInfo] = []
    first_score = None
    for iteration in range(10):
        parents = tuple(sorted(population, key=lambda p: -p.train_score)[:2])
        for k in range(3):
            proposal = proposer.propose(ctx(card, iteration, *parents[k % 2 :] if parents else (), seed=1))
            scored = as_parent(proposal.code, bank, f"c{iteration}.{k}")
            first_score = scored.train_score if first_score is None else first_score
            population.append(scored)
    best = max(p.train_score for p in population)
    assert best > first_score + 0.01


def test_threshold_mcc_matches_the_host_metric() -> None:
    rng = np.random.default_rng(0)
    scores = rng.integers(-4, 6, size=300)
    flagged = rng.random(300) < 0.2 + 0.06 * np.clip(scores, 0, 5)
    labels = np.where(flagged, 0, 1).tolist()
    threshold, best = best_threshold(scores, flagged)
    for t in range(-5, 8):
        host = mcc_from_confusion(*confusion(labels, np.where(scores >= t, 0, 1).tolist()))
        assert mcc_at(scores, flagged, t) == pytest.approx(host)
        assert host <= best + 1e-12
    assert mcc_from_confusion(*confusion(labels, np.where(scores >= threshold, 0, 1).tolist())) == pytest.approx(best)


def test_other_tasks_are_refused(card: TaskCard) -> None:
    spans = TaskCard("ner", "spans", "", ("PER", "LOC"), card.train)
    with pytest.raises(SkillkilnError):
        OfflineProposer().propose(ctx(spans, 0))
