"""What a skill past the harness's guards (full Python in the container, the suite's trusted_builtins mode)
can do to the worker it runs in, from the sandbox audit: it runs as the same user as the harness (pid 1), so
prlimit(2), setpriority(2) and sched_setaffinity(2) reach pid 1 and the spare forked for the next request.

  - a skill that lowers the worker's limits or changes its scheduling costs that worker: the next candidate runs
    on a fresh one with the limits its request names (it ran in the lowered ones, and failed as if by its own fault);
  - a skill that kills its worker on both tries is that candidate's failure, not the end of the run;
  - True and 1 are one label to the gate, so the sandbox's `sensitive` property counts them as one output too;
  - the harness wipes a directory tree nested deeper than Python's recursion limit (its recursive removal raised
    RecursionError out of the server).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/sandbox: the shared helpers
from sandbox_helpers import (  # noqa: E402,F401 - fixtures are used by name
    RULE, RULE_PREDICTIONS, RULE_TEXTS, hostile_docker, hostile_local,
)

from sandbox.backend import Limits, RunRequest  # noqa: E402

pytestmark = pytest.mark.docker

# Every process in the container but this one (pid 1 and the spare forked for the next request): address
# space down to 40 MB, nice 19, one CPU. It answers 1 only if pid 1's address space limit did go down.
LOWER_THE_WORKER = (
    "import os\nimport resource\n\n\ndef solve(text):\n"
    "    cap = 40 * 1024 * 1024\n"
    "    for entry in os.listdir('/proc'):\n"
    "        if not entry.isdigit() or int(entry) == os.getpid():\n            continue\n"
    "        pid = int(entry)\n"
    "        try:\n"
    "            resource.prlimit(pid, resource.RLIMIT_AS, (cap, cap))\n"
    "            os.setpriority(os.PRIO_PROCESS, pid, 19)\n"
    "            os.sched_setaffinity(pid, {min(os.sched_getaffinity(0))})\n"
    "        except OSError:\n            pass\n"
    "    return 1 if resource.prlimit(1, resource.RLIMIT_AS)[1] == cap else 0\n"
)
# Kills pid 1 (signals to a namespace's init are dropped, the kernel's CPU limit is not): its CPU limit to
# 0 s, then a 30 MB result frame the harness must read (under its 32 MB cap).
KILL_THE_WORKER = (
    "import os\nimport resource\nimport stat\nimport struct\n\n\ndef solve(text):\n"
    "    resource.prlimit(1, resource.RLIMIT_CPU, (0, 0))\n"
    "    for fd in range(3, 64):\n"
    "        try:\n            pipe = stat.S_ISFIFO(os.fstat(fd).st_mode)\n"
    "        except OSError:\n            continue\n"
    "        if pipe:\n"
    "            os.write(fd, struct.pack('>I', 30 * 1024 * 1024))\n"
    "            for _ in range(480):\n                os.write(fd, b'x' * 65536)\n"
    "    return 1\n"
)
ROOMY = Limits(wall_s=10.0, cpu_s=10, mem_mb=160, call_s=5.0, load_s=5.0, result_bytes=32 << 20)


def rule_runs(backend) -> bool:
    after = backend.run(RunRequest(RULE, RULE_TEXTS, labels=(0, 1)))
    return (after.predictions, after.per_example_errors, after.failure) == (RULE_PREDICTIONS, {}, "")


def test_a_skill_that_lowers_its_workers_limits_costs_that_worker_not_the_next_candidate(hostile_docker):
    restarts = hostile_docker.restarts
    lowered = hostile_docker.run(RunRequest(LOWER_THE_WORKER, ("a",), labels=(0, 1), trusted_builtins=True), ROOMY)
    assert lowered.predictions == (1,), lowered  # it did lower pid 1's limit
    for _ in range(3):  # before: 'load: memory: MemoryError' for every request after the next, in the same worker
        assert rule_runs(hostile_docker)
    assert hostile_docker.restarts == restarts + 1  # the lowered worker, replaced once


def test_a_skill_that_kills_its_worker_twice_fails_alone_and_the_pool_goes_on(hostile_docker):
    restarts = hostile_docker.restarts
    killed = hostile_docker.run(RunRequest(KILL_THE_WORKER, ("a",), labels=(0, 1), trusted_builtins=True), ROOMY)
    assert killed.predictions is None, killed  # before: SandboxFailure, which ended the evolve run
    assert killed.failure.startswith("sandbox: the sandbox lost a worker twice on one request") and "137" in killed.failure
    assert rule_runs(hostile_docker) and hostile_docker.restarts == restarts + 2


@pytest.mark.parametrize("where", ["hostile_docker", "hostile_local"])
def test_true_and_1_are_one_output_to_the_sensitive_property(where, request):
    backend = request.getfixturevalue(where)
    code = "def solve(text):\n    return True if len(text) % 2 else 1\n"  # label 1 always, as a bool or an int
    result = backend.run(RunRequest(code, ("a", "bb", "ccc"), labels=(0, 1), properties={"probe_texts": ["a b"]}))
    assert result.predictions == (True, 1, True) and result.failure == ""
    assert not result.properties["sensitive"].passed, result.properties["sensitive"]
    assert result.properties["sensitive"].detail == "every input gave 1"


def test_the_harness_removes_a_tree_deeper_than_the_recursion_limit(tmp_path):
    from sandbox.harness import remove_tree, wipe

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    home = os.getcwd()
    try:
        os.chdir(scratch)
        for _ in range(sys.getrecursionlimit() + 200):  # 1-letter names: the path stays under PATH_MAX
            os.mkdir("d")
            os.chdir("d")
            Path("f").write_text("x")
    finally:
        os.chdir(home)
    try:
        assert wipe(str(scratch)) and list(scratch.iterdir()) == []
        remove_tree(str(scratch))
        assert not scratch.exists()
    finally:  # a tree left behind would break pytest's own (recursive) clean-up of its temporary folders
        if scratch.exists():
            os.chdir(scratch)
            try:
                depth = 0
                while os.path.isdir("d"):
                    os.chdir("d")
                    depth += 1
                for _ in range(depth):
                    for name in os.listdir("."):
                        os.unlink(name)
                    os.chdir("..")
                    os.rmdir("d")
            finally:
                os.chdir(home)
