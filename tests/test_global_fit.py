"""One global fit of the offline proposer's rule kinds (engine/proposers/global_fit.py): the no-search
baseline of bench/quality.py and bench/ceiling.py."""
from __future__ import annotations

import random

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
