"""Shared fixtures. Docker is real here: with CI=true a missing daemon fails the run, never skips."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("SKILLKILN_DATA_DIR", str(ROOT.parent / "shared" / "data"))
SKILLS = Path(__file__).resolve().parent / "skills"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_docker():
    """A Docker client with the sandbox image built; skip outside CI when no daemon answers."""
    from engine.errors import SkillkilnError
    from sandbox.docker_backend import docker_client
    from sandbox.image import build_image

    try:
        client = docker_client(timeout=10)
    except SkillkilnError as exc:
        if IN_CI:
            pytest.fail(f"CI=true but Docker is not reachable: {exc}")
        pytest.skip(f"no Docker daemon: {exc}")
    build_image(client, say=lambda _msg: None)
    return client


@pytest.fixture(scope="session")
def docker_backend():
    from sandbox.docker_backend import DockerBackend

    backend = DockerBackend(workers=2, client=require_docker())
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def local_backend():
    from sandbox.local_backend import LocalBackend

    backend = LocalBackend(workers=1)
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def cola():
    from tasks import load_task

    return load_task("cola")


@pytest.fixture(scope="module")
def card(cola):
    """CoLA's task card, as proposers see it (the offline proposer's tests)."""
    from engine.proposers.base import TaskCard

    return TaskCard.of(cola)


@pytest.fixture(scope="module")
def proposer(card):
    """An offline proposer (seed 0, no global-fit start) with CoLA's feature bank built, fresh for each test module."""
    from engine.proposers.offline import OfflineProposer

    made = OfflineProposer(seed=0, start_fit=False)  # random fresh genomes; tests/test_global_fit.py covers the fit
    made.bank(card)  # build the feature bank once for the module
    return made


@pytest.fixture(scope="session")
def docker_evaluator(cola, docker_backend):
    from engine.evaluate import Evaluator

    return Evaluator(cola, docker_backend)


@pytest.fixture
def store(tmp_path):
    from skills_store.store import Store

    s = Store(tmp_path / "store.sqlite")
    yield s
    s.close()


def skill_code(name: str) -> str:
    return (SKILLS / name).read_text()


def run_with_and_without_bar(task, backend, make_proposer, tmp_path, iters: int) -> dict:
    """The same offline run twice, with the not_better bar and with --score-all (RunConfig.score_all):
    {"bar" | "all": (run, store, config, candidate rows, versions as (version, candidate id, code), summary)}.
    The caller closes the stores."""
    from engine.config import RunConfig
    from engine.loop import Run
    from skills_store.store import Store

    runs = {}
    for label, score_all in (("bar", False), ("all", True)):
        path = tmp_path / f"{label}.sqlite"
        store = Store(path)
        config = RunConfig(task=task.name, iters=iters, batch=4, workers=2, seed=0, store_path=path, score_all=score_all)
        run = Run(config, task, backend, make_proposer(), store)
        summary = run.execute()
        rows = [dict(r) for r in store.candidates(run.run_id)]
        versions = [(v.version, v.provenance["candidate_id"], v.code) for v in store.versions(config.skill_name)]
        runs[label] = (run, store, config, rows, versions, summary)
    return runs
