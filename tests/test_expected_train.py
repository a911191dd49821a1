"""Expected train outputs (Proposal.expected_train): checked on the train subset, they put validation
before the rest of train; a candidate validation rejects stops there, as does one that cannot beat
the run's best (not_better), and nothing else changes: the same search, versions and best skill.
The loops start from random genomes (start_fit=False): from the global fit, most children pass
validation and fail the gap test on the rest of train, which leaves little to stop early."""
from __future__ import annotations

import dataclasses
import json
import os

import pytest

from conftest import require_docker, run_with_and_without_bar, skill_code
from engine.config import RunConfig
from engine.evaluate import Evaluator
from engine.gate import GateConfig
from engine.loop import Run
from engine.proposers.offline import OfflineProposer
from sandbox.backend import RunRequest
from sandbox.factory import open_backend
from skills_store.store import Store
from tasks import load_task
from test_gate_corpus import CORPUS_DIR, corpus

RULES = skill_code("honest_rules.py")


@pytest.fixture(scope="module")
def setting():
    require_docker()
    task = load_task("cola", os.environ.get("SKILLKILN_DATA_DIR"))
    backend = open_backend("docker", 2, lambda _m: None)
    yield task, backend
    backend.close()


def outputs_on_train(task, backend, code):
    """The skill's real train outputs, from the sandbox: what an exact proposer would expect."""
    result = backend.run(RunRequest(code=code, texts=task.train.texts, kind=task.kind, labels=task.labels))
    assert result.predictions is not None and not result.per_example_errors
    return tuple(result.predictions)


def test_validation_runs_before_the_rest_of_train_and_a_rejection_stops_there(setting):
    task, backend = setting
    strict = GateConfig(mcc_floor=0.5)  # no rule skill reaches it on validation (nor on train)
    expected = outputs_on_train(task, backend, RULES)
    evaluator = Evaluator(task, backend, strict)
    usual = evaluator.evaluate(RULES)
    early = evaluator.evaluate(RULES, expected_train=expected)
    assert usual.stage == "train" and "mcc_floor:train" in usual.verdict.reasons
    assert early.stage == "validation" and "mcc_floor:validation" in early.verdict.reasons
    assert not early.verdict.accepted and "train" not in early.stage_s and "train" not in early.verdict.metrics
    assert early.train_predictions is None and early.expected_train == expected
    assert "the rest of train was not run" in early.verdict.details["gate:train_subset"]
    assert "went on to the full train split" in usual.verdict.details["gate:train_subset"]
    assert early.texts == len(evaluator.subset) + len(task.validation) < usual.texts


def test_a_candidate_not_above_the_bar_stops_after_validation(setting):
    task, backend = setting
    evaluator = Evaluator(task, backend)
    expected = outputs_on_train(task, backend, RULES)
    full = evaluator.evaluate(RULES, expected_train=expected)
    score = full.verdict.metrics["validation"].mcc
    for bar in (score, score + 0.01):  # not above the bar: a tie stops it too (a version needs more)
        stopped = evaluator.evaluate(RULES, expected_train=expected, bar=bar)
        assert stopped.stage == "validation" and stopped.verdict.reasons == ("not_better",)
        assert not stopped.verdict.accepted and set(stopped.stage_s) == {"train_subset", "validation"}
        assert stopped.verdict.metrics["validation"].mcc == score and "test" not in stopped.verdict.metrics
        assert stopped.expected_train == expected and stopped.train_predictions is None
        assert f"not above {bar:.4f}" in stopped.verdict.details["not_better"]
        assert stopped.texts == len(evaluator.subset) + len(task.validation)
    above = evaluator.evaluate(RULES, expected_train=expected, bar=score - 0.01)
    assert above.verdict.accepted and above.stage == "test" and above.texts == full.texts
    # without expected outputs validation comes after all of train: the bar stops nothing
    usual = evaluator.evaluate(RULES, bar=score + 0.01)
    assert usual.verdict.accepted and usual.stage == "test"


def test_expected_outputs_wrong_on_one_subset_text_change_nothing(setting):
    task, backend = setting
    expected = list(outputs_on_train(task, backend, RULES))
    evaluator = Evaluator(task, backend, GateConfig(mcc_floor=0.5))
    i = evaluator.subset[7]
    expected[i] = 1 - expected[i]
    wrong = evaluator.evaluate(RULES, expected_train=expected)
    assert wrong.stage == "train" and wrong.expected_train is None and "train" in wrong.stage_s
    assert wrong.texts == len(task.train)
    short = evaluator.evaluate(RULES, expected_train=expected[:-1])  # not one output per train text
    assert short.stage == "train" and short.expected_train is None


def test_an_accepted_candidate_gets_the_same_verdict_and_runs_the_same_texts(setting):
    task, backend = setting
    evaluator = Evaluator(task, backend)
    usual = evaluator.evaluate(RULES)
    early = evaluator.evaluate(RULES, expected_train=outputs_on_train(task, backend, RULES))
    assert usual.verdict.accepted and early.verdict.accepted and early.stage == "test"
    assert {k: m.to_dict() for k, m in early.verdict.metrics.items()} == \
        {k: m.to_dict() for k, m in usual.verdict.metrics.items()}
    assert early.verdict.details["gate:properties"] == usual.verdict.details["gate:properties"]
    assert early.texts == usual.texts and early.expected_train is None
    assert early.train_predictions == usual.train_predictions


def test_a_candidate_validation_passes_still_fails_on_the_rest_of_train(setting):
    """It crashes on train texts of a length no subset or validation text has: validation (run
    first) passes it, the rest of train then rejects it, and both stages' seconds are counted."""
    task, backend = setting
    evaluator = Evaluator(task, backend)
    expected = outputs_on_train(task, backend, RULES)
    taken = {len(task.train.texts[i]) for i in evaluator.subset} | {len(t) for t in task.validation.texts}
    length = max(len(task.train.texts[i]) for i in evaluator.rest if len(task.train.texts[i]) not in taken)
    code = RULES + (
        "\n\nrules_solve = solve\n\n\ndef solve(text):\n"
        f"    if len(text) == {length}:\n        raise ValueError('a length only the rest of train has')\n"
        "    return rules_solve(text)\n")
    early = evaluator.evaluate(code, expected_train=expected)
    assert early.stage == "train" and "crash:train" in early.verdict.reasons
    assert set(early.stage_s) == {"train_subset", "validation", "train"} and early.expected_train is None
    assert abs(early.sandbox_s - sum(early.stage_s.values())) < 1e-9
    assert early.texts == len(task.train) + len(task.validation)


def test_memorisation_is_still_caught_after_the_rest_of_train(setting):
    task, backend = setting
    code = corpus.fill((CORPUS_DIR / "fingerprint_table.py").read_text(encoding="utf-8"), task)
    early = Evaluator(task, backend).evaluate(code, expected_train=outputs_on_train(task, backend, code))
    assert early.stage == "validation" and "memorised:gap" in early.verdict.reasons
    assert "train" in early.stage_s and early.expected_train is None


class WithoutExpected(OfflineProposer):
    """The offline proposer with its expected outputs dropped: the usual cascade order."""

    def propose(self, ctx):
        return dataclasses.replace(super().propose(ctx), expected_train=None)


def test_the_search_is_the_same_with_and_without_expected_outputs(setting, tmp_path):
    task, backend = setting
    runs = {}
    for label, proposer in (("with", OfflineProposer(seed=0, start_fit=False)),
                            ("without", WithoutExpected(seed=0, start_fit=False))):
        store = Store(tmp_path / f"{label}.sqlite")
        config = RunConfig(task="cola", iters=2, batch=4, workers=2, seed=0, store_path=tmp_path / f"{label}.sqlite",
                           score_all=True)
        run = Run(config, task, backend, proposer, store)
        run.execute()
        runs[label] = (run, store, config, [dict(r) for r in store.candidates(run.run_id)])
    (with_run, store, config, with_rows), (without_run, _, _, without_rows) = runs["with"], runs["without"]
    assert [r["code_sha256"] for r in with_rows] == [r["code_sha256"] for r in without_rows]
    assert [r["accepted"] for r in with_rows] == [r["accepted"] for r in without_rows]
    early = [r for r in with_rows if r["train_expected"]]
    assert early and all(r["stage"] == "validation" and not r["accepted"] for r in early)
    assert not any(r["train_expected"] for r in without_rows)
    # the rest of train never ran for them (their verdict scores no train split); without expected outputs it did
    by_hash = {r["code_sha256"]: r for r in without_rows}
    assert all(set(json.loads(r["verdict"])["metrics"]) == {"validation"} for r in early)
    assert all("train" in json.loads(by_hash[r["code_sha256"]]["verdict"])["metrics"] for r in early)
    stages, usual = with_run.summary(0.0)["stages"], without_run.summary(0.0)["stages"]
    assert stages["validation, early"] == len(early) and "validation, early" not in usual
    assert sum(stages.values()) == sum(usual.values()) == len(with_rows)
    assert stages.get("test") == usual.get("test") == sum(r["accepted"] for r in with_rows)

    def members(run):
        return sorted((m.id.rsplit("-", 2)[-2:], m.train_score, m.accepted) for m in run.population.members())

    assert members(with_run) == members(without_run)
    resumed = Run.resume(config, task, backend, OfflineProposer(seed=0, start_fit=False), store, with_run.run_id)
    assert members(resumed) == members(with_run) and set(resumed.behaviours) == set(with_run.behaviours)
    store.close()


def test_not_better_stops_change_no_version_and_no_best(setting, tmp_path):
    """The same offline run with and without the bar (--score-all): the same candidates, population,
    versions and best skill; the bar stops some accepted candidates after validation, each with a
    validation score not above the best of the accepted candidates of earlier iterations."""
    task, backend = setting
    runs = run_with_and_without_bar(task, backend, lambda: OfflineProposer(seed=0, start_fit=False), tmp_path, iters=4)
    (bar_run, store, config, bar_rows, bar_versions, bar_summary) = runs["bar"]
    (all_run, all_store, _, all_rows, all_versions, all_summary) = runs["all"]
    all_store.close()
    short = lambda cid: cid.split("-", 3)[-1]  # noqa: E731 - the candidate's place in its run
    assert [r["code_sha256"] for r in bar_rows] == [r["code_sha256"] for r in all_rows]
    assert [(v, short(c), code) for v, c, code in bar_versions] == [(v, short(c), code) for v, c, code in all_versions]
    assert short(bar_summary["best"]["candidate_id"]) == short(all_summary["best"]["candidate_id"])
    assert bar_summary["best"]["metrics"] == all_summary["best"]["metrics"]

    stopped = [r for r in bar_rows if json.loads(r["reasons"]) == ["not_better"]]
    assert stopped, "no candidate was stopped by the bar in 4 iterations"
    by_id = {short(r["id"]): r for r in all_rows}
    for r in stopped:
        score = json.loads(r["verdict"])["metrics"]["validation"]["mcc"]
        earlier = [json.loads(x["verdict"])["metrics"]["validation"]["mcc"] for x in bar_rows
                   if x["accepted"] and x["iteration"] < r["iteration"]]
        assert earlier and score <= max(earlier)
        assert r["train_expected"] and r["stage"] == "validation" and r["skill_version"] is None
        assert json.loads(by_id[short(r["id"])]["verdict"])["metrics"]["validation"]["mcc"] == score
    assert bar_summary["stages"]["not_better"] == len(stopped) and "not_better" not in all_summary["stages"]
    assert bar_summary["accepted_count"] + len(stopped) <= all_summary["accepted_count"]
    # the summary counts the stops as skips by the cascade, not as failures of the gate
    assert bar_summary["skipped"]["not_better"] == len(stopped) and "not_better" not in bar_summary["rejections"]
    # every gate failure with the bar is one without it (a stop scored in full may still fail, e.g. memorised:gap)
    assert all(n <= all_summary["rejections"].get(r, 0) for r, n in bar_summary["rejections"].items())
    for summary in (bar_summary, all_summary):
        assert summary["accepted_count"] + summary["rejected_count"] + summary["skipped_count"] == summary["candidates"]
    for r in stopped:  # neither the rest of train nor test ran for a stop; with --score-all the rest of train did
        assert set(json.loads(r["verdict"])["metrics"]) == {"validation"}
        assert "train" in json.loads(by_id[short(r["id"])]["verdict"])["metrics"]

    def members(run):
        return sorted((m.id.split("-", 3)[-1], m.train_score, m.validation_score) for m in run.population.members())

    assert members(bar_run) == members(all_run)
    resumed = Run.resume(config, task, backend, OfflineProposer(seed=0, start_fit=False), store, bar_run.run_id)
    assert members(resumed) == members(bar_run) and resumed.bar(4) == bar_run.bar(4) is not None
    store.close()


def test_a_test_split_that_fails_as_a_whole_is_said_not_dropped(setting):
    """Test decides nothing, so the skill is still accepted; but its missing test score says why (the
    failure was thrown away: no row, no reason, nothing in --json)."""
    from engine.records import Example, Split

    task, backend = setting
    marked = dataclasses.replace(task, test=Split("test", tuple(Example("BOOM " + e.text, e.label)
                                                                 for e in task.test.examples)))
    code = RULES.replace("def solve(text):", "def solve(text):\n    if text.startswith('BOOM '):\n"
                                             "        collections.deque(itertools.count(), maxlen=0)", 1)
    code = "import collections\nimport itertools\n" + code
    judged = Evaluator(marked, backend).evaluate(code)
    assert judged.verdict.accepted and judged.stage == "test", judged.verdict.reasons
    assert "test" not in judged.verdict.metrics
    assert judged.verdict.details["gate:test"].startswith("not scored: the run on test failed as a whole (timeout:")
