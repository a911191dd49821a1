"""A candidate that behaves exactly like one judged in an earlier iteration (every train output the same) stops
after train; one that differs on a single train text outside the gate's subset does not; a copy of an earlier
program (layout, comments and own names aside) is not run at all."""
from __future__ import annotations

import json
import os

from conftest import require_docker, skill_code
from engine.config import RunConfig
from engine.evaluate import Evaluator
from engine.loop import Run
from engine.records import Proposal
from sandbox.factory import open_backend
from skills_store.store import Store
from tasks import load_task

RULES = skill_code("honest_rules.py")
# the same behaviour written differently: a comment and a renamed helper change the code, not the outputs
TWIN = "# a twin\n" + RULES.replace("def solve(text):", "def solve(text):\n    text = str(text)")
# another program with the same outputs, and a copy of RULES with other names and comments (not run at all)
TWIN_B = RULES.replace("def solve(text):", "def solve(text):\n    text = text + ''")
BOOL_TWIN = RULES.replace("def solve(text):", "def as_int(text):", 1) + "\n\ndef solve(text):\n    return as_int(text) == 1\n"
COPY = "# renamed\n" + RULES.replace("WORD_WEIGHTS", "WW").replace("words", "tokens").replace("score", "total")


class Fixed:
    name = "fixed"
    model = "twins"

    def __init__(self, batches):
        self.batches = batches
        self.calls = 0

    def propose(self, ctx):
        batch = self.batches[ctx.iteration]
        code = batch[self.calls % len(batch)]
        self.calls += 1
        return Proposal(code=code, proposer=self.name, model=self.model)


def test_evaluator_stops_a_known_behaviour_only_with_the_cascade_on():
    require_docker()
    task = load_task("cola", os.environ.get("SKILLKILN_DATA_DIR"))
    backend = open_backend("docker", 1, lambda _m: None)
    try:
        evaluator = Evaluator(task, backend)
        first = evaluator.evaluate(RULES)
        assert first.verdict.accepted and first.behaviour
        twin = evaluator.evaluate(TWIN, behaviours={first.behaviour: "cand-1"})
        assert twin.stage == "train" and twin.verdict.reasons == ("same_behaviour",)
        said = twin.verdict.details["same_behaviour"]
        assert "cand-1" in said and f"all {len(task.train.texts)} train texts" in said
        assert set(twin.stage_s) == {"train_subset", "train"} and {"train", "validation", "test"} <= set(first.stage_s)
        # the same labels as bools: one behaviour to the gate, which counts True as 1 (it got past: sandbox audit)
        as_bools = evaluator.evaluate(BOOL_TWIN, behaviours={first.behaviour: "cand-1"})
        assert as_bools.verdict.reasons == ("same_behaviour",)
        assert {type(p) for p in as_bools.train_predictions} == {bool}
        # one more rule, for a word only train texts outside the gate's subset hold: a different skill, judged in full
        chosen = [task.train.texts[i].lower() for i in evaluator.subset]
        word = next(w for w in ("banana", "umbrella", "zebra", "giraffe") if any(w in t.lower() for t in task.train.texts)
                    and not any(w in t for t in chosen))
        other = RULES.replace("def solve(text):", "def base_solve(text):", 1) + (
            f"\n\ndef solve(text):\n    if {word!r} in text.lower():\n        return 1 - base_solve(text)\n"
            "    return base_solve(text)\n")
        differs = evaluator.evaluate(other, behaviours={first.behaviour: "cand-1"})
        assert "same_behaviour" not in differs.verdict.reasons and differs.stage != "train_subset"
        assert differs.train_predictions != first.train_predictions
        off = Evaluator(task, backend, cascade=False).evaluate(TWIN, behaviours={first.behaviour: "cand-1"})
        assert off.verdict.accepted  # no subset stage, no skip: the bench's comparison
    finally:
        backend.close()


def test_loop_skips_twins_of_earlier_iterations_but_not_siblings(tmp_path):
    require_docker()
    task = load_task("cola", os.environ.get("SKILLKILN_DATA_DIR"))
    store = Store(tmp_path / "s.sqlite")
    config = RunConfig(task="cola", iters=2, batch=2, workers=2)
    backend = open_backend("docker", 2, lambda _m: None)
    try:
        run = Run(config, task, backend, Fixed([[RULES, TWIN], [TWIN_B, COPY]]), store)
        summary = run.execute()
    finally:
        backend.close()
    rows = {r["id"]: r for r in store.candidates(run.run_id)}
    first = [r for r in rows.values() if r["iteration"] == 0]
    second = [r for r in rows.values() if r["iteration"] == 1]
    assert all(r["stage"] == "test" for r in first)  # siblings: both judged in full
    twin, copy = sorted(second, key=lambda r: r["id"])
    assert twin["stage"] == "train" and twin["reasons"] == '["same_behaviour"]'
    assert copy["stage"] == "static" and copy["reasons"] == '["duplicate"]' and copy["sandbox_s"] == 0
    assert f"the same program as candidate {run.run_id}-000-0" in json.loads(copy["verdict"])["details"]["duplicate"]
    assert summary["skipped"] == {"same_behaviour": 1, "duplicate": 1} and summary["rejections"] == {}  # no gate failures
    assert (summary["accepted_count"], summary["rejected_count"], summary["skipped_count"]) == (2, 0, 2)
    # the population saw both twins (TWIN in iteration 0, TWIN_B skipped in iteration 1) as twins, not members
    assert summary["population"]["duplicates"]["behaviour"] == 2 and summary["population"]["members"] == 1


PARITY = "def solve(text):\n    return len(text) % 2\n"  # passes the train subset, fails on the whole of train


def test_a_twin_of_a_rejected_candidate_is_skipped_and_remembered_on_resume(tmp_path):
    """Behaviours of rejected candidates count too, and a resumed run rebuilds them from the store."""
    require_docker()
    task = load_task("cola", os.environ.get("SKILLKILN_DATA_DIR"))
    store = Store(tmp_path / "s.sqlite")
    config = RunConfig(task="cola", iters=2, batch=1, workers=1)
    backend = open_backend("docker", 1, lambda _m: None)
    try:
        run = Run(config, task, backend, Fixed([[PARITY], ["def solve(text):\n    n = len(text)\n    return n % 2\n"]]), store)
        run.execute()
        rows = sorted(store.candidates(run.run_id), key=lambda r: r["iteration"])
        assert [r["stage"] for r in rows] == ["train", "train"]
        assert "not_significant:train" in rows[0]["reasons"] and "same_behaviour" in rows[1]["reasons"]
        resumed = Run.resume(config, task, backend, Fixed([[PARITY]]), store, run.run_id)
        assert set(resumed.behaviours) == set(run.behaviours) and len(run.behaviours) == 1
    finally:
        backend.close()
        store.close()
