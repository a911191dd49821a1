"""The addresses a skill can read differ between requests (sandbox/harness.py: scatter_memory).

Second sandbox audit, F02: `id()` is refused by the static gate, but `repr(object())` shows the same address,
and every fork of a worker had the same allocation history, the out-of-context worker's too. A skill keyed
on one address bit answered the same in every request, passed the deterministic and out-of-context checks,
and answered otherwise in plain Python. Now each request's child scatters a random number of blocks of every
size before the skill loads, so such a skill is a coin toss in the sandbox as it is outside it.
"""
from __future__ import annotations

import pytest

from sandbox.backend import RunRequest

# the address of an object made at load (small: pymalloc's 16-byte class), of one made per call, and of a
# big one (past pymalloc: malloc's), each in 16-byte steps within a 4 kB page
ADDRESSES = (
    "ANCHOR = object()\n"
    "BIG = type('Big', (), {'__slots__': tuple(f's{i}' for i in range(100))})()\n\n\n"
    "def where(obj):\n"
    "    return int(repr(obj).split(' at ')[-1].rstrip('>'), 16) % 4096 // 16\n\n\n"
    "def solve(text):\n"
    "    return {'anchor': where(ANCHOR), 'call': where(object()), 'big': where(BIG)}[text]\n"
)
TEXTS = ("anchor", "call", "big")


@pytest.mark.parametrize("backend_name", ["local_backend", "docker_backend"])
def test_each_request_sees_other_addresses(backend_name, request):
    backend = request.getfixturevalue(backend_name)
    seen = []
    for _ in range(6):
        result = backend.run(RunRequest(code=ADDRESSES, texts=TEXTS, labels=tuple(range(256))))
        assert not result.failure, result.failure
        seen.append(result.predictions)
    for i, text in enumerate(TEXTS):  # each the same in all six before; now 6 draws of 32 or more values
        assert len({answers[i] for answers in seen}) > 1, (text, seen)
