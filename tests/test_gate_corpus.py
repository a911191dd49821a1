"""The gate corpus through the real Docker sandbox: every trivial or cheating skill in
tests/gate_corpus/ is rejected for the reason its header states, every honest rule skill in
tests/gate_corpus/honest/ is accepted (with test scored), all by one shared Evaluator."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

CORPUS_DIR = Path(__file__).resolve().parent / "gate_corpus"


def _load_corpus_module():
    name = "gate_corpus_loader"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, CORPUS_DIR / "_corpus.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


corpus = _load_corpus_module()
PATHS = corpus.paths()
NAMES = [str(p.relative_to(CORPUS_DIR)) for p in PATHS]


@pytest.fixture(scope="module")
def cases(cola):
    return {case.name: case for case in corpus.load(cola)}


def test_corpus_size_and_headers():
    cheats = [p for p in PATHS if p.parent == CORPUS_DIR]
    honest = [p for p in PATHS if p.parent.name == "honest"]
    assert len(cheats) >= 25
    assert len(honest) >= 5
    assert all(corpus.expected(p) != "accepted" for p in cheats)
    assert all(corpus.expected(p) == "accepted" for p in honest)


@pytest.mark.docker
@pytest.mark.parametrize("name", NAMES)
def test_corpus_skill(name, cases, docker_evaluator):
    case = cases[name]
    evaluation = docker_evaluator.evaluate(case.code)
    verdict = evaluation.verdict
    if case.expect == "accepted":
        assert verdict.accepted, verdict.details
        assert evaluation.stage == "test"
        assert set(verdict.metrics) >= {"train", "validation", "test"}
        for split in ("train", "validation"):
            assert verdict.metrics[split].p_value < docker_evaluator.config.alpha
        assert all(p.passed for p in evaluation.results["validation"].properties.values())
        return
    assert not verdict.accepted
    assert corpus.matches(case.expect, verdict.reasons), (case.expect, verdict.reasons)
    assert all(verdict.details.get(r) for r in verdict.reasons)  # every reason says why
    assert "test" not in verdict.metrics  # the private test split is never scored for a rejected skill
    assert evaluation.stage != "test"
    if case.expect.startswith(("static:", "memorised:source", "leaked:source")):
        assert evaluation.stage == "static" and evaluation.sandbox_s == 0.0


@pytest.mark.docker
def test_cheap_rejections_stop_at_the_subset(cases, docker_evaluator):
    """The cascade: constant, crashing and bad-output skills never pay for the full train split."""
    for name in ("return_true.py", "raises_half.py", "returns_string.py", "near_constant.py"):
        evaluation = docker_evaluator.evaluate(cases[name].code)
        assert evaluation.stage == "train_subset", (name, evaluation.verdict.reasons)
        assert set(evaluation.stage_s) == {"train_subset"}
        assert evaluation.train_predictions is None


@pytest.mark.docker
def test_rendered_verdicts_of_a_rejected_and_an_accepted_skill(cases, docker_evaluator, cola):
    from engine.gate_report import render_verdict

    rejected = docker_evaluator.evaluate(cases["seen_twice.py"].code).verdict.to_dict()
    # the counterexample quotes generated (train-derived) text, never a held-out sentence
    detail = rejected["details"]["property:deterministic"]
    assert not any(t[:40] in detail for t in cola.validation.texts + cola.test.texts if len(t) >= 40)
    lines = render_verdict(rejected)
    text = "\n".join(lines)
    assert lines[0].startswith("verdict: rejected")
    assert "property:deterministic" in text and "counterexamples:" in text
    assert "gave" in text  # the counterexample: an input and its two answers
    assert "p = " in text and "alpha 0.05" in text

    accepted = docker_evaluator.evaluate(cases["honest/points.py"].code).verdict.to_dict()
    lines = render_verdict(accepted)
    text = "\n".join(lines)
    assert lines[0] == "verdict: accepted"
    assert "validation   p = " in text and "pass" in text
    assert "MCC" in text and "balanced accuracy" in text and ">= 0.52" in text
    assert "defaults" not in text  # the floors it was held to came with the verdict
    # how fast it ran, which a user weighs against a model call per text
    speed = next(line for line in lines if line.startswith("  speed "))
    assert f"{len(cola.train):,} train texts in " in speed and " a text (one worker" in speed, speed


@pytest.mark.docker
def test_the_context_check_reruns_all_of_validation(cases, cola, docker_evaluator):
    """CI: set_order.py was accepted once. Its answers follow a set's order on 6 of validation's 857 texts and
    107 of train's 7,694: a random 200 validation and 100 train texts held none of them about 1 time in 16. All
    of validation is re-run now, so it is caught every time."""
    details = docker_evaluator.evaluate(cases["set_order.py"].code).verdict.details
    said = details["property:context"]
    assert said.startswith(f"{len(cola.validation) + 100} validation and train texts re-run") and "answered otherwise" in said
