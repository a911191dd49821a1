"""Helpers and fixtures of the sandbox suite: pools of their own for destructive tests (one worker
each, so every request lands in the same container and what one candidate leaves, the next one
sees), and what checks that a backend came through a hostile program unharmed.

Test modules import the fixtures by name (there is no conftest.py here on purpose: a second
`conftest` module would shadow tests/conftest.py for the modules that import from it). Pools are
module-scoped, so at most one of each is alive at a time."""
from __future__ import annotations

import functools
import importlib.util
import os
import re
import socket
import time
from pathlib import Path

import pytest

from sandbox.backend import Limits, RunRequest

TESTS = Path(__file__).resolve().parent.parent

RULE = "import re\n\ndef solve(text):\n    return 0 if re.search(r'\\bthe the\\b', text) else 1\n"
RULE_TEXTS = ("a cat", "the the cat", "")
RULE_PREDICTIONS = (1, 0, 1)

# Run with full builtins after every hostile program in a container: the harness must have
# wiped the scratch directories and left no process but itself (and this probe).
PROBE = (
    "import os\nimport re\n\n\ndef solve(text):\n"
    "    left = os.listdir('/tmp') + os.listdir('/dev/mqueue')\n"
    "    assert not left, 'scratch not wiped: ' + repr(left[:5])\n"
    "    procs = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
    # besides the harness (1) and this probe, at most the spare the harness forks for the next
    # request while this one runs: younger than this probe (pids only grow here)
    "    others = [p for p in procs if p not in (1, os.getpid())]\n"
    "    young = len(others) <= 1 and all(p > os.getpid() for p in others)\n"
    "    assert procs[0] == 1 and os.getpid() in procs and young, 'left running: ' + repr(procs)\n"
    "    return 0 if re.search(r'\\bthe the\\b', text) else 1\n"
)


@functools.lru_cache(maxsize=1)
def _root_conftest():
    """tests/conftest.py, for its require_docker() (the CI rule: never skip with CI=true)."""
    spec = importlib.util.spec_from_file_location("skillkiln_root_conftest", TESTS / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def require_docker():
    return _root_conftest().require_docker()


def assert_unharmed(backend, *, restarts: int, container: bool) -> None:
    """The pool still answers, the next candidate gets correct predictions, nothing was restarted,
    and (in a container) nothing was left running or written."""
    assert backend.restarts == restarts, "the harness did not survive: its worker was replaced"
    after = backend.run(RunRequest(RULE, RULE_TEXTS, labels=(0, 1)))
    assert (after.predictions, after.per_example_errors, after.failure) == (RULE_PREDICTIONS, {}, "")
    if container:
        probe = backend.run(RunRequest(PROBE, RULE_TEXTS, labels=(0, 1), trusted_builtins=True), Limits(wall_s=10))
        assert (probe.predictions, probe.per_example_errors, probe.failure) == (RULE_PREDICTIONS, {}, ""), probe
    assert backend.restarts == restarts


def descendants(pid: int) -> list[int]:
    """Every live process below pid (from /proc), for the local backend's leftovers."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] == "Z":
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def wait_for(check, timeout: float = 5.0, step: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(step)
    return check()


def full(pattern: str, text: str) -> bool:
    return re.fullmatch(pattern, text, re.S) is not None


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def hostile_docker():
    """One container, tight memory: the pool hostile programs run in (and that must survive them)."""
    from sandbox.docker_backend import DockerBackend

    backend = DockerBackend(workers=1, client=require_docker(), mem_mb=320, pids=64, host_margin_s=3.0)
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def hostile_local():
    from sandbox.local_backend import LocalBackend

    backend = LocalBackend(workers=1, host_margin_s=3.0)
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def host_port():
    """A port the host listens on at 127.0.0.1: a sandbox that reaches it is not isolated."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield str(server.getsockname()[1])
    server.close()
