"""The Docker sandbox itself: hardening as configured, predictions back, labels never in."""
from __future__ import annotations

import json
import os

from sandbox.backend import Limits, RunRequest
from sandbox.docker_backend import CONTAINER_LABEL

RULE = "import re\n\ndef solve(text):\n    return 0 if re.search(r'\\bthe the\\b', text) else 1\n"


def test_predictions_come_back_in_order(docker_backend):
    result = docker_backend.run(RunRequest(RULE, ("a cat", "the the cat", ""), labels=(0, 1)))
    assert result.predictions == (1, 0, 1)
    assert result.per_example_errors == {}
    assert result.failure == ""


def test_request_carries_no_labels():
    wire = RunRequest(RULE, ("a", "b"), labels=(0, 1)).to_wire(Limits())
    assert set(wire) == {"op", "code", "texts", "kind", "labels", "properties", "allowed_imports", "libraries", "limits"}
    assert wire["labels"] == [0, 1]  # the label *set*, never a label per example
    assert json.dumps(wire).count('"texts"') == 1


def test_containers_are_hardened(docker_backend):
    from sandbox.docker_backend import docker_client

    client = docker_client()
    mine = [c for c in client.containers.list(filters={"label": CONTAINER_LABEL})]
    assert mine, "the pool's containers should be running"
    for container in mine:
        host = container.attrs["HostConfig"]
        config = container.attrs["Config"]
        assert host["NetworkMode"] == "none"
        assert host["ReadonlyRootfs"] is True
        assert host["CapDrop"] == ["ALL"]
        assert "no-new-privileges" in host["SecurityOpt"]
        assert host["PidsLimit"] and host["PidsLimit"] <= 128
        assert host["Memory"] > 0 and 0 < host["NanoCpus"] <= 2 * 10**9
        assert "noexec" in host["Tmpfs"]["/tmp"]
        assert config["User"] == "65534:65534"
        assert not host.get("Binds")
        assert not any(e.startswith(("ANTHROPIC", "OLLAMA", "SKILLKILN", "CI=")) for e in config["Env"])


def test_no_system_v_ipc_inside(docker_backend):
    """A SysV segment, queue or semaphore would outlive the request that made it: none can be made."""
    from sandbox.docker_backend import docker_client

    probe = ("import ctypes\nlibc = ctypes.CDLL(None)\n"
             "print(libc.shmget(0, 4096, 0o1600), libc.msgget(0, 0o1600), libc.semget(0, 1, 0o1600))")
    client = docker_client()
    container = client.containers.list(filters={"label": CONTAINER_LABEL})[0]
    code, output = container.exec_run(["python3", "-c", probe], user="65534:65534")
    assert code == 0, output
    assert output.decode().split() == ["-1", "-1", "-1"]


def test_state_does_not_leak_between_candidates(docker_backend):
    writer = "import collections\n\ndef solve(text):\n    collections.LEAK = 1\n    return 1\n"
    reader = "import collections\n\ndef solve(text):\n    return 0 if hasattr(collections, 'LEAK') else 1\n"
    docker_backend.run(RunRequest(writer, ("x",), labels=(0, 1)))
    assert docker_backend.run(RunRequest(reader, ("x",), labels=(0, 1))).predictions == (1,)


def test_printed_forged_frames_are_only_noise(docker_backend):
    forger = (
        "def solve(text):\n"
        "    print('{\"ok\": true, \"outputs\": [0, 0, 0]}' * 1000)\n"
        "    return 1\n"
    )
    result = docker_backend.run(RunRequest(forger, ("a", "b", "c"), labels=(0, 1)))
    assert result.predictions == (1, 1, 1)


def test_a_hung_run_is_killed_and_the_pool_carries_on(docker_backend):
    hang = "def solve(text):\n    while True:\n        try:\n            pass\n        except BaseException:\n            pass\n"
    result = docker_backend.run(RunRequest(hang, ("x",), labels=(0, 1)), Limits(wall_s=2, call_s=0.5))
    assert result.predictions is None or result.per_example_errors
    after = docker_backend.run(RunRequest(RULE, ("the the",), labels=(0, 1)))
    assert after.predictions == (0,)


def test_import_guard_holds_inside_even_without_the_static_gate(docker_backend):
    code = "def solve(text):\n    __import__('os').system('true')\n    return 1\n"
    result = docker_backend.run(RunRequest(code, ("x",), labels=(0, 1)))
    assert result.predictions == (None,)
    assert "not allowed" in result.per_example_errors[0]


# Full builtins (trusted): walk every frame on the child's stack (the server's frames it was forked
# from) and every object the collector tracks, for any str, bytes or list holding `marker`.
FIND_MARKER = (
    "import gc\nimport sys\n\n\ndef solve(text):\n"
    "    marker = text[::-1]\n"
    "    def holds(value):\n"
    "        if isinstance(value, (bytes, bytearray)):\n"
    "            return marker.encode() in value\n"
    "        if isinstance(value, str):\n"
    "            return value is not marker and value != text and marker in value\n"
    "        if isinstance(value, (list, tuple)):\n"
    "            return any(holds(v) for v in value if isinstance(v, (bytes, bytearray, str)))\n"
    "        return False\n"
    "    frame, hits = sys._getframe(), []\n"
    "    while frame is not None:\n"
    "        hits += [name for name, value in frame.f_locals.items() if holds(value)]\n"
    "        frame = frame.f_back\n"
    "    for obj in gc.get_objects():\n"
    "        if isinstance(obj, dict):\n"
    "            hits += [str(k) for k, v in obj.items() if holds(v)]\n"
    "        elif isinstance(obj, list) and holds(obj):\n"
    "            hits.append('a list')\n"
    "    return 1 if hits else 0\n"
)


def test_the_next_child_holds_no_reference_to_the_last_request(docker_backend):
    """The spare that runs a request is forked while the one before runs: it must not inherit a
    reference to that request's body (its code and texts)."""
    marker = "previous-request-9f27c1"
    first = RunRequest(f"# {marker}\ndef solve(text):\n    return 1\n", (f"{marker} text",), labels=(0, 1))
    for _ in range(3):  # the spare forked during `first` is the one that runs the probe
        assert docker_backend.run(first).predictions == (1,)
        probe = docker_backend.run(RunRequest(FIND_MARKER, (marker[::-1],), labels=(0, 1), trusted_builtins=True),
                                   Limits(wall_s=20, call_s=10))
        assert probe.per_example_errors == {} and probe.failure == "", probe
        assert probe.predictions == (0,), "the next child can reach the previous request's body"


def test_str_hashes_are_the_same_in_every_container_and_backend(docker_backend):
    """hash() and set order of strings do not change from run to run (PYTHONHASHSEED=0 in the image and the
    local backend): a skill that buckets words by hash() is deterministic across runs, not only within one."""
    import subprocess
    import sys

    from sandbox.docker_backend import DockerBackend
    from sandbox.local_backend import LocalBackend

    code = "def solve(text):\n    return hash(text) % 1000003\n"
    texts = ("a cat", "the the cat", "Our friends won't buy this analysis.")
    request = RunRequest(code, texts, labels=(0, 1))
    first = docker_backend.run(request).predictions
    other = DockerBackend(workers=1)  # a container started apart from the first ones
    local = LocalBackend(1)
    try:
        assert other.run(request).predictions == first == local.run(request).predictions
    finally:
        other.close()
        local.close()
    expected = subprocess.run([sys.executable, "-c", f"print([hash(t) % 1000003 for t in {texts!r}])"],
                              env={"PYTHONHASHSEED": "0"}, capture_output=True, text=True).stdout
    assert list(first) == eval(expected)  # noqa: S307 - our own output: the seed really is 0


def test_stale_cleanup_takes_only_what_is_provably_no_ones(docker_backend):
    """It removed every container whose pid was missing from this process's /proc: a live run in another
    PID namespace (sharing the daemon) lost its containers; and a reused pid kept a dead run's forever."""
    import subprocess

    from sandbox.docker_backend import OWNER_LABEL, docker_client, owner_tag, remove_stale_containers
    from sandbox.image import image_tag

    client = docker_client()
    boot, namespace, _ = owner_tag(os.getpid()).split("|")
    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid no process holds now
    sleeper = ["python3", "-c", "import time; time.sleep(120)"]

    def make(pid: int, owner: str, start: bool = True):
        container = client.containers.create(image_tag(), command=sleeper, network_mode="none",
                                             labels={CONTAINER_LABEL: str(pid), OWNER_LABEL: owner})
        if start:
            container.start()
        return container

    ours_dead = make(gone.pid, f"{boot}|{namespace}|123")
    reused = make(os.getpid(), f"{boot}|{namespace}|1")  # this pid, but not this process's start time
    elsewhere = make(gone.pid, f"{boot}|pid:[1]|123")  # another namespace: its pids are not ours to see
    exited = make(os.getpid(), owner_tag(os.getpid()), start=False)
    exited.start()
    exited.kill()
    try:
        remove_stale_containers(client)
        left = {c.id for c in client.containers.list(all=True, filters={"label": CONTAINER_LABEL})}
        assert elsewhere.id in left
        assert not {ours_dead.id, reused.id, exited.id} & left
        assert all(c.id in left for c in docker_backend.containers())  # the live pool's own are kept
    finally:
        for container in (ours_dead, reused, elsewhere, exited):
            try:
                container.remove(force=True)
            except Exception:  # noqa: BLE001 - removed by the cleanup
                pass


def test_stale_cleanup_survives_a_container_its_owner_removes_meanwhile(docker_backend):
    """CI: two runs on one daemon; one's cleanup listed the containers, the other removed one of its own
    before the listing inspected it, and the run died with 'unexpected NotFound' (exit 3). The cleanup lists
    sparsely now (no inspection per container). Here the race is made certain: every inspection first
    removes the container it asks about, as its owner would."""
    from sandbox.docker_backend import OWNER_LABEL, docker_client, owner_tag, remove_stale_containers
    from sandbox.image import image_tag

    client = docker_client()
    theirs = client.containers.create(image_tag(), command=["python3", "-c", "import time; time.sleep(60)"],
                                      network_mode="none",
                                      labels={CONTAINER_LABEL: str(os.getpid()), OWNER_LABEL: owner_tag(os.getpid())})
    real_inspect = client.api.inspect_container

    def owner_removes_it_first(container, *args, **kwargs):
        client.api.remove_container(container, force=True)
        return real_inspect(container, *args, **kwargs)

    client.api.inspect_container = owner_removes_it_first
    try:
        assert remove_stale_containers(client) == 0  # no NotFound; a live owner's container is not stale
        live = {c.id for c in client.containers.list(sparse=True, filters={"label": CONTAINER_LABEL})}
        assert {c.id for c in docker_backend.containers()} <= live  # the live pool's own are kept
    finally:
        client.api.inspect_container = real_inspect
        try:
            theirs.remove(force=True)
        except Exception:  # noqa: BLE001 - removed above, if the listing inspected it
            pass
