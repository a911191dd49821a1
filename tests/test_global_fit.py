"""One global fit of the offline proposer's rule kinds (engine/proposers/global_fit.py): a run's first
candidate, and the no-search baseline of bench/quality.py and bench/ceiling.py."""
from __future__ import annotations

import random
import re

import pytest

from engine.proposers.global_fit import global_fit
from engine.proposers.offline import MAX_FEATURES, FeatureBank, mcc_at, outputs
from engine.proposers.rule_skill import parse_genome, render
from engine.records import Example, Split
from sandbox.static import MAX_SOURCE_BYTES


@pytest.fixture(scope="module")
def bank(cola) -> FeatureBank:
    return FeatureBank(cola.train)


@pytest.fixture(scope="module")
def fits(bank):
    return global_fit(bank, seed=0), global_fit(bank, seed=1)


def test_a_word_that_decides_the_label_gets_the_largest_weight():
    rng = random.Random(0)
    filler = [f"w{i}" for i in range(40)]
    examples = []
    for i in range(300):
        words = rng.sample(filler, 5)
        bad = i % 3 == 0
        if bad:
            words.insert(rng.randrange(6), "wrongly")
        examples.append(Example(" ".join(words), 0 if bad else 1))
    bank = FeatureBank(Split("train", tuple(examples)))
    genome = global_fit(bank)
    top = max(genome.weights, key=lambda f: genome.weights[f])
    assert top == ("word", "wrongly") and genome.weights[top] > 0  # a positive weight pushes toward label 0
    assert outputs(genome, bank) == tuple(e.label for e in examples)  # every train text right


def test_the_cola_fit_is_a_readable_skill_under_the_cap(fits, bank):
    genome, _ = fits
    code = render(genome, "cola")
    assert 100 < len(genome.weights) <= MAX_FEATURES
    assert len(code.encode()) <= MAX_SOURCE_BYTES
    assert parse_genome(code) == genome  # the same genome reads back, so it can seed or be reused
    assert mcc_at(bank.scores(genome), bank.flagged, genome.threshold) > 0.2


def test_the_seed_moves_only_the_threshold(fits, bank):
    """The weights come from one fit on all of train; the seed assigns the folds whose out-of-fold
    scores choose the threshold."""
    first, second = fits
    assert first.weights == second.weights
    assert first == global_fit(bank, seed=0)  # deterministic


def test_the_gate_accepts_the_cola_fit(fits, docker_evaluator):
    genome, _ = fits
    evaluation = docker_evaluator.evaluate(render(genome, "cola"))
    assert evaluation.verdict.accepted, evaluation.verdict.reasons
    assert evaluation.verdict.metrics["validation"].mcc > 0.1


def test_a_runs_first_proposal_is_the_fit_and_only_the_first(cola, bank):
    from engine.proposers.base import ParentInfo, ProposalContext, TaskCard
    from engine.proposers.offline import FIT_NOTE, OfflineProposer

    card = TaskCard.of(cola)

    def ctx(iteration: int, *parents: ParentInfo, seed: int = 5, slot: int = 0) -> ProposalContext:
        return ProposalContext(task=card, iteration=iteration, parents=tuple(parents), seed=seed, slot=slot)

    proposer = OfflineProposer(seed=0)
    proposer._banks = {(id(card.train), ()): bank}
    first = proposer.propose(ctx(0))
    assert first.note == FIT_NOTE and parse_genome(first.code) == global_fit(bank, seed=5)
    second = proposer.propose(ctx(0, seed=6, slot=1))  # the iteration's next fresh proposal is a random restart
    assert second.note != FIT_NOTE and len(parse_genome(second.code).weights) <= 80
    assert proposer.propose(ctx(1, seed=7)).note != FIT_NOTE  # a later iteration with no parents: a random restart too
    parent = ParentInfo(id="p", code=first.code, train_predictions=outputs(parse_genome(first.code), bank),
                        train_score=0.3)
    seeded = OfflineProposer(seed=0)
    seeded._banks = proposer._banks
    assert "p" in seeded.propose(ctx(0, parent)).parent_ids  # a population seeded by --reuse: a mutation
    plain = OfflineProposer(seed=0, start_fit=False)
    plain._banks = proposer._banks
    assert plain.propose(ctx(0)).note != FIT_NOTE


def test_in_a_run_only_candidate_000_0_is_the_fit(cola, docker_backend, tmp_path):
    from engine.config import RunConfig
    from engine.loop import Run
    from engine.proposers.offline import FIT_NOTE, OfflineProposer
    from skills_store.store import Store

    store = Store(tmp_path / "s.sqlite")
    config = RunConfig(task="cola", iters=1, batch=3, workers=2, seed=0, store_path=tmp_path / "s.sqlite")
    run = Run(config, cola, docker_backend, OfflineProposer(seed=0), store)
    summary = run.execute()
    notes = {r["id"].rsplit("-", 2)[-1]: r["note"] for r in store.candidates(run.run_id)}
    store.close()
    assert notes["0"] == FIT_NOTE and FIT_NOTE not in (notes["1"], notes["2"])
    assert summary["best"]["note"] == FIT_NOTE  # random restarts do not beat it on validation
    import io

    from rich.console import Console

    from engine.summary import print_summary

    out = io.StringIO()
    print_summary(summary, Console(file=out, width=300))
    assert re.search(r"made by +" + re.escape(FIT_NOTE), out.getvalue())  # the summary says the best is the fit
