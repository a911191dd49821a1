"""The gate through the real Docker sandbox: the research log's `return True` and its twins
are rejected for the right reason; an honest rule skill is accepted."""
from __future__ import annotations

import pytest

from conftest import skill_code

TRIVIAL = {
    # name: (code, reason code, stage reached with the cascade on)
    # the research log's "best" skill: 68% accuracy, exactly the majority rate
    "return_true": ("def solve(text):\n    return True\n", "constant_output", "train_subset"),
    "return_one": ("def solve(text):\n    return 1\n", "constant_output", "train_subset"),
    "log_skill": (
        "def solve(text):\n    # ... some unused checks ...\n    words = text.split()\n"
        "    if len(words) > 100:\n        pass\n    return True\n",
        "constant_output", "train_subset",
    ),
    "nonempty": ("def solve(text):\n    return int(len(text) > 0)\n", "constant_output", "train_subset"),
    "huge_bound": ("def solve(text):\n    return int(len(text) < 10**9)\n", "constant_output", "train_subset"),
    "parity": ("def solve(text):\n    return len(text) % 2\n", "not_significant", "train"),
    "strings": ("def solve(text):\n    return 'acceptable'\n", "bad_output", "train_subset"),
    "raises_half": (
        "def solve(text):\n    if len(text) % 2:\n        raise ValueError('odd')\n    return 1\n",
        "crash", "train_subset",
    ),
    "sleeper": ("def solve(text):\n    while True:\n        pass\n", "timeout", "train_subset"),
    "imports_os": ("import os\ndef solve(text):\n    return 1\n", "static:import", "static"),
    "unparseable": ("def solve(text)\n    return 1\n", "static:syntax", "static"),
}


def has(reasons, code: str) -> bool:
    return any(r == code or r.startswith(code + ":") for r in reasons)


@pytest.fixture(scope="module")
def flat_evaluator(cola, docker_backend):
    """The same gate with the cascade turned off: the whole train split at once."""
    from engine.evaluate import Evaluator

    return Evaluator(cola, docker_backend, cascade=False)


@pytest.mark.parametrize("name", sorted(TRIVIAL))
def test_trivial_skill_rejected_for_its_reason(name, docker_evaluator):
    code, reason, stage = TRIVIAL[name]
    evaluation = docker_evaluator.evaluate(code)
    assert not evaluation.verdict.accepted
    assert has(evaluation.verdict.reasons, reason), evaluation.verdict.reasons
    assert evaluation.stage == stage
    for r in evaluation.verdict.reasons:
        assert evaluation.verdict.details[r]  # every reason says why


@pytest.mark.parametrize("name", ["return_true", "parity", "strings", "raises_half"])
def test_same_reason_without_the_cascade(name, flat_evaluator):
    code, reason, _ = TRIVIAL[name]
    evaluation = flat_evaluator.evaluate(code)
    assert not evaluation.verdict.accepted
    assert f"{reason}:train" in evaluation.verdict.reasons, evaluation.verdict.reasons
    assert evaluation.stage == "train" and set(evaluation.stage_s) == {"train"}


def test_lookup_table_of_training_sentences_is_memorisation(docker_evaluator, cola):
    bad = [e.text for e in cola.train.examples if e.label == 0][:30]
    code = f"BAD = {bad!r}\n\ndef solve(text):\n    return 0 if text in BAD else 1\n"
    evaluation = docker_evaluator.evaluate(code)
    assert not evaluation.verdict.accepted
    assert evaluation.verdict.reasons == ("memorised:source",)
    assert evaluation.stage == "static"  # caught before any sandbox time is spent


def test_call_count_skill_fails_determinism(docker_evaluator, cola):
    # honest on the first call of each text (it copies a real skill), the opposite on a repeat
    honest = skill_code("honest_rules.py").replace("def solve(text):", "def honest(text):")
    code = honest + (
        "\n\nSEEN = set()\n\ndef solve(text):\n    r = honest(text)\n    if text in SEEN:\n        return 1 - r\n"
        "    SEEN.add(text)\n    return r\n"
    )
    evaluation = docker_evaluator.evaluate(code)
    assert not evaluation.verdict.accepted
    assert "property:deterministic" in evaluation.verdict.reasons


def test_honest_rule_skill_is_accepted_with_test_scored(docker_evaluator):
    evaluation = docker_evaluator.evaluate(skill_code("honest_rules.py"))
    verdict = evaluation.verdict
    assert verdict.accepted, verdict.details
    assert evaluation.stage == "test"
    assert verdict.metrics["validation"].p_value < 0.05
    assert verdict.metrics["validation"].mcc > 0.05
    assert set(verdict.metrics) == {"train", "validation", "test"}
    assert all(p.passed for p in evaluation.results["validation"].properties.values())
    assert list(evaluation.stage_s) == ["train_subset", "train", "validation", "test"]
    assert len(evaluation.results["generated"].predictions) == docker_evaluator.config.generated_texts
    assert "gate:generated" in verdict.details and "gate:config" in verdict.details


def test_cascade_reuses_the_subset_and_agrees_with_the_flat_run(docker_evaluator, flat_evaluator):
    code = skill_code("honest_rules.py")
    cascaded, flat = docker_evaluator.evaluate(code), flat_evaluator.evaluate(code)
    assert cascaded.verdict.accepted and flat.verdict.accepted
    # the subset's outputs are put back in place: the full train outputs are the same
    assert cascaded.train_predictions == flat.train_predictions
    assert cascaded.verdict.metrics["train"] == flat.verdict.metrics["train"]
    assert cascaded.verdict.metrics["validation"] == flat.verdict.metrics["validation"]
