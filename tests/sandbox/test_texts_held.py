"""Texts a worker already holds are not sent again: the harness keeps the last few text lists it
was sent (under a key the host gives), a spare child inherits them with its fork, and a request
whose texts the worker holds carries only their key. Whatever a child does to its copy, the
next request sees the texts as they were sent."""
from __future__ import annotations

import pytest

from sandbox.backend import RunRequest

RULE = "import re\n\n\ndef solve(text):\n    return 0 if re.search(r'\\bthe the\\b', text) else 1\n"
# full builtins: finds the held lists through gc in its own (forked) memory and wrecks them
VANDAL = (
    "import gc\n\n\ndef solve(text):\n    gc.unfreeze()  # the harness froze what it holds out of gc's lists\n"
    "    wrecked = 0\n    for o in gc.get_objects():\n"
    "        if type(o) is list and len(o) >= 300 and all(type(t) is str for t in o[:3]):\n"
    "            o[:] = ['the the'] * len(o)\n            wrecked += 1\n"
    "    return wrecked\n"
)


def texts(n: int, salt: str = "") -> tuple[str, ...]:
    return tuple(f"the the {salt}{i}" if i % 3 == 0 else f"a {salt}{i}" for i in range(n))


def expected(batch) -> tuple[int, ...]:
    return tuple(0 if t.startswith("the the") else 1 for t in batch)


@pytest.fixture(params=["docker", "local"])
def backend(request):
    return request.getfixturevalue(f"{request.param}_backend")


def held(backend) -> set[str]:
    pool = backend._pool
    return set().union(*pool._held.values()) if pool._held else set()


def test_held_texts_are_not_sent_again_and_give_the_same_predictions(backend):
    batch = texts(400, "held")
    first = backend.run(RunRequest(RULE, batch, labels=(0, 1)))
    assert first.predictions == expected(batch) and first.failure == ""
    _, key = backend._pool._texts.encode(batch)
    assert key in held(backend)
    for _ in range(3):  # on whichever worker: one that holds them gets the key only
        again = backend.run(RunRequest(RULE, batch, labels=(0, 1)))
        assert again.predictions == expected(batch) and again.failure == ""


def test_a_child_cannot_change_the_texts_the_next_request_gets(backend):
    batch = texts(300, "vandal")
    backend.run(RunRequest(RULE, batch, labels=(0, 1)))  # now held
    for _ in range(2):
        wrecked = backend.run(RunRequest(VANDAL, batch, labels=(0, 1), trusted_builtins=True))
        assert wrecked.failure == "" and wrecked.predictions[0] >= 1  # it reached its copy of them
        after = backend.run(RunRequest(RULE, batch, labels=(0, 1)))
        assert after.predictions == expected(batch)


def test_texts_the_host_wrongly_thinks_held_are_sent_again(local_backend):
    batch = texts(500, "missing")
    pool = local_backend._pool
    _, key = pool._texts.encode(batch)
    (worker,) = pool.workers()
    pool._held[worker] = frozenset({key})  # the host is wrong: the harness never saw them
    result = local_backend.run(RunRequest(RULE, batch, labels=(0, 1)))
    assert result.predictions == expected(batch) and result.failure == ""
    assert key in pool._held[worker]


def test_the_oldest_texts_make_room_and_every_request_is_still_right(local_backend):
    batches = [texts(260 + i, f"set{i}") for i in range(7)]
    for batch in batches + batches[:2]:
        result = local_backend.run(RunRequest(RULE, batch, labels=(0, 1)))
        assert result.predictions == expected(batch) and result.failure == ""
    (worker,) = local_backend._pool.workers()
    assert len(local_backend._pool._held[worker]) == 4
