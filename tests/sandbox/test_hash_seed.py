"""A request may ask for another string hash seed than the sandbox's fixed 0: it runs on a worker
started with that seed (the gate's out-of-context run), in Docker and in the local backend alike."""
from __future__ import annotations

import subprocess
import sys

import pytest

from sandbox.backend import RunRequest

WORDS = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta")


def skill(first: str) -> str:
    """Answers 1 for text "i" when the set's i-th word, in its iteration order, is FIRST."""
    return f"ORDER = list({set(WORDS)!r})\n\n\ndef solve(text):\n    return 1 if ORDER[int(text)] == {first!r} else 0\n"


def order_under(seed: int) -> list[str]:
    """The set's order in a plain python3 with PYTHONHASHSEED=SEED (the same algorithm as the image's 3.11)."""
    done = subprocess.run([sys.executable, "-c", f"print(' '.join({set(WORDS)!r}))"], capture_output=True,
                          text=True, env={"PYTHONHASHSEED": str(seed)}, check=True)
    return done.stdout.split()


@pytest.mark.parametrize("backend_name", ["local_backend", "docker_backend"])
def test_a_request_runs_under_the_hash_seed_it_names(backend_name, request):
    backend = request.getfixturevalue(backend_name)
    zero, one = order_under(0), order_under(1)
    assert zero != one  # else this set shows nothing
    code = skill(zero[0])
    texts = tuple(str(i) for i in range(len(WORDS)))

    def answers(seed: int) -> tuple:
        result = backend.run(RunRequest(code=code, texts=texts, labels=(0, 1), hash_seed=seed))
        assert not result.failure, result.failure
        return result.predictions

    # position i answers 1 where the order puts zero's first word: under seed 0 at 0, under seed 1 where one has it
    assert answers(0) == tuple(int(w == zero[0]) for w in zero)
    assert answers(1) == tuple(int(w == zero[0]) for w in one)
    assert answers(0) == answers(0)  # the pool of seed 0 is untouched by the other


def test_the_seeded_worker_is_a_hardened_container_of_the_pool_and_goes_with_it():
    """The worker of another seed is started like every other (no network, read-only, no capabilities),
    differs only in PYTHONHASHSEED, and close() removes it with the rest."""
    from conftest import require_docker

    require_docker()
    from sandbox.docker_backend import CONTAINER_LABEL, DockerBackend, docker_client

    client = docker_client()
    backend = DockerBackend(workers=1)
    try:
        before = {c.id for c in backend.containers()}
        result = backend.run(RunRequest(code="def solve(text):\n    return 1\n", texts=("x",), labels=(0, 1),
                                        hash_seed=1))
        assert result.predictions == (1,)
        ours = [client.containers.get(w.container.id) for w in backend._pools.workers()]  # this backend's
        seeded = [c for c in ours if c.id not in before]
        assert len(ours) == 2 and len(seeded) == 1 and "PYTHONHASHSEED=1" in seeded[0].attrs["Config"]["Env"]
        host = seeded[0].attrs["HostConfig"]
        assert host["NetworkMode"] == "none" and host["ReadonlyRootfs"] is True and host["CapDrop"] == ["ALL"]
        made = before | {seeded[0].id}
    finally:
        backend.close()
    left = {c.id for c in client.containers.list(all=True, filters={"label": CONTAINER_LABEL})}
    assert not (made & left)
