"""The adversarial suite (adversarial_programs.py), layer by layer.

  (a) static gate      check_source rejects what it can, with the reason asserted per program
  (b) harness guards   static gate off, guards on, in a Docker container
  (c) container alone  static gate off, guards off (request flag trusted_builtins)
  local                the local backend, guards on: only what rlimits, the clock, the deadline
                       and the result cap give (marked per program)
  local, guards off    only programs harmless to the host whose outcome comes from `unshare`
                       (no network; a PID namespace with the harness as init)

After every hostile program the same pool must still answer, with no worker replaced, and
the next candidate must get correct predictions; in a container a probe with full builtins
also checks that /tmp and /dev/mqueue are empty and no process but the harness is left.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from adversarial_programs import NAMES, PROGRAMS, Err, Fail, Pred, Program, TimedOut

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/sandbox: the shared helpers
from sandbox_helpers import (  # noqa: E402,F401 - fixtures are used by name
    assert_unharmed, descendants, full, host_port, hostile_docker, hostile_local, wait_for,
)

from sandbox.backend import RunRequest
from sandbox.static import check_source

pytestmark = pytest.mark.docker

UNICODE_ERROR = "exception: ValueError: lone \\ud800 \\udcff \x00 \u2028"


def test_the_suite_has_at_least_30_programs():
    assert len(PROGRAMS) >= 30


def texts_of(program: Program, host_port: str) -> tuple[str, ...]:
    return tuple(host_port if t == "HOST_PORT" else t for t in program.texts)


def assert_outcome(result, expected, program: Program) -> None:
    n = len(program.texts)
    shown = f"got predictions={result.predictions} errors={result.per_example_errors} failure={result.failure!r}"
    if isinstance(expected, Pred):
        assert result.failure == "", shown
        assert result.predictions == expected.values, shown
        if "unicode_error" in program.tags:
            assert result.per_example_errors == {0: UNICODE_ERROR}, shown
            result.per_example_errors[0].encode("utf-8")  # no lone surrogate reaches the host
        else:
            assert result.per_example_errors == {}, shown
    elif isinstance(expected, Err):
        assert result.failure == "", shown
        assert result.predictions == (None,) * n, shown
        assert set(result.per_example_errors) == set(range(n)), shown
        assert full(expected.pattern, result.per_example_errors[0]), shown
    elif isinstance(expected, Fail):
        assert result.predictions is None, shown
        assert full(expected.pattern, result.failure), shown
    elif isinstance(expected, TimedOut):
        assert result.timed_out, shown
        if result.predictions is None:
            assert result.failure.startswith("timeout: the run passed its"), shown
        else:
            assert result.per_example_errors[0].startswith("timeout:"), shown
    else:  # pragma: no cover
        raise AssertionError(f"unknown outcome {expected!r}")


def run_program(backend, program: Program, trusted: bool, host_port: str):
    request = RunRequest(program.code, texts_of(program, host_port), kind=program.kind, labels=(0, 1),
                         trusted_builtins=trusted)
    return backend.run(request, program.limits)


# ---------------------------------------------------------------- (a) the static gate


@pytest.mark.parametrize("program", PROGRAMS, ids=NAMES)
def test_static_gate(program):
    verdict = check_source(program.code)
    if program.static is None:
        assert verdict.ok, f"the static gate now rejects {program.name} ({verdict.reason}: {verdict.detail})"
    else:
        assert (verdict.ok, verdict.reason) == (False, program.static), verdict


# ---------------------------------------------------------------- (b) harness guards, in a container


@pytest.mark.parametrize("program", PROGRAMS, ids=NAMES)
def test_harness_guards(hostile_docker, host_port, program):
    restarts = hostile_docker.restarts
    result = run_program(hostile_docker, program, trusted=False, host_port=host_port)
    assert_outcome(result, program.guarded, program)
    assert_unharmed(hostile_docker, restarts=restarts, container=True)


# ---------------------------------------------------------------- (c) the container alone


@pytest.mark.parametrize("program", PROGRAMS, ids=NAMES)
def test_container_alone(hostile_docker, host_port, program):
    restarts = hostile_docker.restarts
    result = run_program(hostile_docker, program, trusted=True, host_port=host_port)
    assert_outcome(result, program.contained, program)
    assert_unharmed(hostile_docker, restarts=restarts, container=True)


# ---------------------------------------------------------------- local (weaker isolation)

LOCAL = [p for p in PROGRAMS if p.local is not None]
LOCAL_OPEN = [p for p in PROGRAMS if p.local_open is not None]


@pytest.mark.parametrize("program", LOCAL, ids=[p.name for p in LOCAL])
def test_local_guarded(hostile_local, host_port, program):
    restarts = hostile_local.restarts
    result = run_program(hostile_local, program, trusted=False, host_port=host_port)
    assert_outcome(result, program.local, program)
    assert_unharmed(hostile_local, restarts=restarts, container=False)


@pytest.mark.parametrize("program", LOCAL_OPEN, ids=[p.name for p in LOCAL_OPEN])
def test_local_guards_off(hostile_local, host_port, program):
    if program.local_open_needs == "network" and not hostile_local.network_isolated:
        pytest.skip("unshare -rn does not work here: the local backend has the host's network")
    if program.local_open_needs == "pid" and not hostile_local.pid_isolated:
        pytest.skip("unshare -rnpf does not work here: no PID namespace to clear")
    restarts = hostile_local.restarts
    result = run_program(hostile_local, program, trusted=True, host_port=host_port)
    assert_outcome(result, program.local_open, program)
    assert_unharmed(hostile_local, restarts=restarts, container=False)
    if hostile_local.pid_isolated:  # under unshare: the harness and its spare child (forked ahead), nothing else
        (worker,) = hostile_local.worker_pids()
        assert wait_for(lambda: len(descendants(worker)) == 2), descendants(worker)
