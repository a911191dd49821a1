"""A candidate that behaves exactly like one judged in an earlier iteration stops at the train subset."""
from __future__ import annotations

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
        assert twin.stage == "train_subset" and twin.verdict.reasons == ("same_behaviour",)
        assert "cand-1" in twin.verdict.details["same_behaviour"]
        assert set(twin.stage_s) == {"train_subset"} and {"train", "validation", "test"} <= set(first.stage_s)
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
        run = Run(config, task, backend, Fixed([[RULES, TWIN], [TWIN + "\n# again\n", RULES + "\n# again\n"]]), store)
        summary = run.execute()
    finally:
        backend.close()
    rows = {r["id"]: r for r in store.candidates(run.run_id)}
    first = [r for r in rows.values() if r["iteration"] == 0]
    second = [r for r in rows.values() if r["iteration"] == 1]
    assert all(r["stage"] == "test" for r in first)  # siblings: both judged in full
    assert all(r["stage"] == "train_subset" and "same_behaviour" in r["reasons"] for r in second)
    assert summary["skipped"] == {"same_behaviour": 2} and summary["rejections"] == {}  # skips are no gate failures
    assert (summary["accepted_count"], summary["rejected_count"], summary["skipped_count"]) == (2, 0, 2)


PARITY = "def solve(text):\n    return len(text) % 2\n"  # passes the train subset, fails on the whole of train


def test_a_twin_of_a_rejected_candidate_is_skipped_and_remembered_on_resume(tmp_path):
    """Behaviours of rejected candidates count too, and a resumed run rebuilds them from the store."""
    require_docker()
    task = load_task("cola", os.environ.get("SKILLKILN_DATA_DIR"))
    store = Store(tmp_path / "s.sqlite")
    config = RunConfig(task="cola", iters=2, batch=1, workers=1)
    backend = open_backend("docker", 1, lambda _m: None)
    try:
        run = Run(config, task, backend, Fixed([[PARITY], ["# twin\n" + PARITY]]), store)
        run.execute()
        rows = sorted(store.candidates(run.run_id), key=lambda r: r["iteration"])
        assert [r["stage"] for r in rows] == ["train", "train_subset"]
        assert "not_significant:train" in rows[0]["reasons"] and "same_behaviour" in rows[1]["reasons"]
        resumed = Run.resume(config, task, backend, Fixed([[PARITY]]), store, run.run_id)
        assert set(resumed.behaviours) == set(run.behaviours) and len(run.behaviours) == 1
    finally:
        backend.close()
        store.close()
