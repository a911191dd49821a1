"""The addresses a skill can read differ from request to request and from worker to worker
(sandbox/harness.py: scatter_memory).

Second sandbox audit, F02: `id()` is refused by the static gate, but `repr(object())` shows the same address,
and every fork of a worker had the same allocation history, the out-of-context worker's too. A skill keyed
on one address bit answered the same in every request, passed the deterministic and out-of-context checks,
and answered otherwise in plain Python. Now each worker, as it starts, and each request's child, before the
skill loads, hold a random number of blocks of every size, so such a skill answers at random in the sandbox
as it does outside it.
"""
from __future__ import annotations

import importlib

import pytest

from sandbox.backend import RunRequest

# where (in 16-byte steps within a 16 kB pool of the small-object allocator) these objects land: one made at
# load, a big one (past that allocator: malloc's), a function, and one made in the call (where the call's own
# temporaries were freed, which the worker's layout decides more than the child's)
ADDRESSES = (
    "ANCHOR = object()\n"
    "BIG = type('Big', (), {'__slots__': tuple(f's{i}' for i in range(100))})()\n"
    "FUNCTION = lambda: 0\n\n\n"
    "def where(obj):\n"
    "    return int(repr(obj).split(' at ')[-1].rstrip('>'), 16) % 16384 // 16\n\n\n"
    "def solve(text):\n"
    "    return {'anchor': where(ANCHOR), 'big': where(BIG), 'function': where(FUNCTION), 'call': where(object())}[text]\n"
)
TEXTS = ("anchor", "big", "function", "call")
LABELS = tuple(range(1024))


@pytest.mark.parametrize("backend_module", ["local_backend", "docker_backend"])
def test_addresses_differ_between_requests_and_workers(backend_module):
    module = importlib.import_module(f"sandbox.{backend_module}")
    if backend_module == "docker_backend":
        from conftest import require_docker

        require_docker()
        make = module.DockerBackend
    else:
        make = module.LocalBackend
    seen = []
    for _ in range(4):  # workers
        backend = make(workers=1)
        try:
            for _ in range(3):  # requests
                result = backend.run(RunRequest(code=ADDRESSES, texts=TEXTS, labels=LABELS))
                assert not result.failure, result.failure
                seen.append(result.predictions)
        finally:
            backend.close()
    # before, the function landed in one of 2 places in all 12 runs, and the rest in a few dozen
    for i, text in enumerate(TEXTS):
        assert len({answers[i] for answers in seen}) >= 3, (text, [answers[i] for answers in seen])
