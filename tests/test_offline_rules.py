"""The offline proposer's rule machinery: refit, simplification, compaction, cluster-guided
induction (with and without evidence), crossover of rule sets, pairs and suffixes."""
from __future__ import annotations

import random

import numpy as np
import pytest

from engine.evidence import analyse
from engine.proposers.base import ParentInfo, ProposalContext, TaskCard
from engine.proposers.offline import (
    MAX_SOURCE,
    FeatureBank,
    Genome,
    OfflineProposer,
    Target,
    compact,
    crossover,
    fresh,
    induce,
    mcc_at,
    parse_genome,
    refit,
    render,
    simplify,
    source_size,
    target_of,
)


@pytest.fixture(scope="module")
def bank(proposer: OfflineProposer, card: TaskCard) -> FeatureBank:
    return proposer.bank(card)


def train_mcc(genome: Genome, bank: FeatureBank) -> float:
    return mcc_at(bank.scores(genome), bank.flagged, genome.threshold)


def predictions(genome: Genome, bank: FeatureBank) -> tuple[int, ...]:
    return tuple(np.where(bank.scores(genome) >= genome.threshold, 0, 1).tolist())


def solve_of(code: str):
    namespace: dict = {}
    exec(compile(code, "<skill>", "exec"), namespace)  # noqa: S102 - in-process here, the sandbox's job elsewhere
    return namespace["solve"]


def test_pairs_and_suffixes_render_parse_and_score_like_the_skill(bank: FeatureBank, card: TaskCard) -> None:
    genome = Genome({("pair", "what that"): 7, ("suffix", "ed"): 3, ("suffix", "ing"): -2, ("word", "himself"): 5}, 4)
    code = render(genome, "cola")
    assert parse_genome(code) == genome
    solve = solve_of(code)
    texts = card.train.texts[:400]
    assert [solve(t) for t in texts] == list(predictions(genome, bank)[:400])
    assert solve("What did you say that he wanted?") == 0  # pair 7 >= 4
    assert solve("He walked") == 1 and solve("He walked himself") == 0  # 'ed' 3 < 4; +5
    assert solve("ed ing") == 1  # a suffix is the ending of a longer word


def test_refit_improves_a_fresh_genome_and_keeps_integers(bank: FeatureBank) -> None:
    start = fresh(bank, random.Random(0))
    fitted = refit(start, bank)
    assert set(fitted.weights) <= set(start.weights)
    assert all(isinstance(w, int) and w for w in fitted.weights.values())
    assert fitted.weights != start.weights
    # the refit optimises the penalised likelihood, not MCC: it lands close to (often above) the start
    assert train_mcc(fitted, bank) > train_mcc(start, bank) - 0.03
    assert refit(fitted, bank).weights == pytest.approx(fitted.weights, abs=1)  # a fixed point, up to rounding


def test_simplify_removes_only_rules_without_effect(bank: FeatureBank) -> None:
    genome = refit(fresh(bank, random.Random(1)), bank)
    noisy = genome.copy()
    noisy.weights[("word", "zzzunseen")] = 3  # never occurs in train
    noisy.weights[("pattern", r"(?i)\bwhom\b")] = 1  # weight 1 on a rare pattern: flips nothing here
    simple = simplify(noisy, bank)
    assert ("word", "zzzunseen") not in simple.weights
    assert predictions(simple, bank) == predictions(noisy, bank)
    assert len(simple.weights) <= len(genome.weights) + 1


def test_compact_fits_the_size_cap(bank: FeatureBank) -> None:
    ranked = sorted(bank.candidates, key=lambda f: (-bank.strength(f), f))[:1200]
    big = refit(Genome({f: 1 if bank.stats[f][2] > 0 else -1 for f in ranked}), bank)
    small = compact(big, bank)
    assert source_size(small) <= MAX_SOURCE and len(render(small, "cola").encode()) < 20_000
    assert train_mcc(small, bank) > 0.15


def test_induce_targets_a_failure_cluster(bank: FeatureBank, card: TaskCard) -> None:
    parent = refit(fresh(bank, random.Random(2)), bank)
    preds = predictions(parent, bank)
    evidence = analyse(card.train.texts, card.train.labels, preds, seed=0)
    errors = np.flatnonzero(np.array(preds) != np.array(card.train.labels))
    target = target_of(evidence, errors, bank, random.Random(3))
    assert target.label.startswith("failure cluster")
    assert set(target.indices.tolist()) <= set(evidence.clusters[0].indices) | {
        i for c in evidence.clusters[:5] for i in c.indices}
    child, note = induce(parent, bank, random.Random(4), target)
    assert note.startswith("induce") and len(child.weights) > len(parent.weights)
    assert train_mcc(child, bank) > train_mcc(parent, bank)
    # the target's examples are fixed more often than not
    before = np.array(preds)[target.indices] == np.array(card.train.labels)[target.indices]
    after = np.array(predictions(child, bank))[target.indices] == np.array(card.train.labels)[target.indices]
    assert after.sum() > before.sum()


def test_induce_without_evidence_uses_the_parents_errors(bank: FeatureBank) -> None:
    parent = fresh(bank, random.Random(5))
    errors = np.flatnonzero((bank.scores(parent) >= parent.threshold) != bank.flagged)
    target = target_of(None, errors, bank, random.Random(6))
    assert "errors on label" in target.label and set(target.indices.tolist()) <= set(errors.tolist())
    child, _ = induce(parent, bank, random.Random(7), target)
    assert train_mcc(child, bank) > train_mcc(parent, bank)
    other = Target(np.arange(50), "test")
    assert induce(parent, bank, random.Random(7), other)[0] is not None


def test_crossover_unites_rule_sets(bank: FeatureBank) -> None:
    a, b = refit(fresh(bank, random.Random(8)), bank), refit(fresh(bank, random.Random(9)), bank)
    child, note = crossover(a, b, bank, random.Random(0))
    assert note.startswith("crossover")
    assert set(child.weights) <= set(a.weights) | set(b.weights)
    assert train_mcc(child, bank) >= max(train_mcc(a, bank), train_mcc(b, bank)) - 0.01


def test_proposer_uses_evidence_and_works_without(proposer: OfflineProposer, card: TaskCard, bank: FeatureBank) -> None:
    genome = refit(fresh(bank, random.Random(10)), bank)
    code = render(genome, "cola")
    preds = predictions(genome, bank)
    parent = ParentInfo("p", code, preds, train_mcc(genome, bank))
    evidence = analyse(card.train.texts, card.train.labels, preds, seed=0)
    notes = []
    for it in range(12):
        with_ev = proposer.propose(ProposalContext(card, it, (parent,), (), 5, evidence=evidence))
        without = proposer.propose(ProposalContext(card, it, (parent,), (), 5))
        notes.append(with_ev.note)
        assert len(with_ev.code.encode()) < 20_000 and parse_genome(without.code) is not None
    assert any("failure cluster" in n for n in notes)


def test_a_short_evolution_beats_its_fresh_start(card: TaskCard, bank: FeatureBank) -> None:
    import time

    proposer = OfflineProposer(seed=3, start_fit=False)  # from random: the fit leaves little train MCC to gain
    proposer._banks = {(id(card.train), ()): bank}
    best = None
    started = time.perf_counter()
    for it in range(6):
        parents = (best,) if best else ()
        for k in range(2):
            p = proposer.propose(ProposalContext(card, it, parents, (), k))
            g = parse_genome(p.code)
            scored = ParentInfo(f"{it}.{k}", p.code, predictions(g, bank), train_mcc(g, bank))
            if best is None or scored.train_score > best.train_score:
                best = scored
            if it == 0 and k == 0:
                first = scored.train_score
    assert best.train_score > first + 0.05
    assert (time.perf_counter() - started) / 12 < 1.0


def test_a_library_rule_renders_an_import_and_parses_back() -> None:
    from engine.proposers.offline import Genome, parse_genome, render

    genome = Genome({("word", "himself"): 4, ("skill", "cola_rules"): -6}, 2)
    code = render(genome, "cola")
    assert "from skills import cola_rules" in code and "SKILLS = {'cola_rules': cola_rules.solve}" in code
    back = parse_genome(code)
    assert back is not None and back.weights == genome.weights and back.threshold == 2
    plain = render(Genome({("word", "himself"): 4}, 2), "cola")
    assert "skills" not in plain and "skill_score" not in plain  # no library, no trace of one


def test_start_and_end_patterns_match_the_rows_a_scan_of_every_text_finds() -> None:
    """The bank finds a start/end pattern's rows among the texts whose first / last word it is (perf audit:
    scanning every text for each of a 200k-row table's edge patterns took most of 42 s); what a full scan
    with the pattern's own regex finds must not change, whatever a text's punctuation, case or script."""
    import re

    from engine.proposers.rule_skill import ends_with, starts_with
    from engine.records import Example, Split

    texts = ["The cat sat.", "the_cat sat", "  'the' cat", "THE end the", "then the", "Thé cat the",
             "the", "...the!", "x the.", "ſo the", "so", "12 the", "the 12", "Kelvin so", "\u212aelvin so",
             "so so", "", "—so the—", "the\u00a0cat so"]
    split = Split("train", tuple(Example(t, i % 2) for i, t in enumerate(texts * 4)))
    bank = FeatureBank(split)
    for pattern in [starts_with(w) for w in ("the", "so", "kelvin", "x")] + [ends_with(w) for w in ("the", "so", "cat")]:
        column = bank.column(("pattern", pattern))
        scanned = [i for i, t in enumerate(bank.texts) if re.search(pattern, t)]
        assert (column.rows.tolist() if column is not None else []) == scanned, pattern
