"""A span run resumes from the store: stored span predictions come back as the loop keeps them."""
from __future__ import annotations

import os

from conftest import require_docker
from engine.config import RunConfig
from engine.loop import Run
from engine.proposers import make_proposer
from sandbox.factory import open_backend
from skills_store.store import Store
from tasks import load_task


def test_a_pii_run_resumes_with_its_population(tmp_path):
    require_docker()
    task = load_task("pii", os.environ.get("SKILLKILN_DATA_DIR"))
    store = Store(tmp_path / "s.sqlite")
    config = RunConfig(task="pii", iters=2, batch=2, workers=2, store_path=tmp_path / "s.sqlite")
    backend = open_backend("docker", 2, lambda _m: None)
    try:
        first = Run(config, task, backend, make_proposer("offline", 0, task="pii"), store)
        first.execute()
        assert len(first.population) > 0
        longer = RunConfig(**{**config.__dict__, "iters": 3})
        resumed = Run.resume(longer, task, backend, make_proposer("offline", 0, task="pii"), store, first.run_id)
        assert len(resumed.population) == len(first.population)
        assert resumed.population.best().train_predictions == first.population.best().train_predictions
        summary = resumed.execute()
    finally:
        backend.close()
    assert summary["candidates"] == 6 and summary["metric"] == "f1"
