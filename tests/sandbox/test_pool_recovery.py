"""The pool under failure and load: dead, killed and frozen containers are replaced and counted,
the next request works; N workers serve N requests at once; the local fallback's isolation.

The Pool unit tests at the end use fake workers (no Docker): out-of-step answers, garbage,
workers that cannot start."""
from __future__ import annotations

import json
import queue
import shutil
import struct
import subprocess
import threading
import time

import pytest
from sandbox_helpers import (  # noqa: F401 - fixtures are used by name
    RULE, RULE_PREDICTIONS, RULE_TEXTS, hostile_docker, hostile_local, require_docker, wait_for,
)

from sandbox.backend import Limits, RunRequest

SLEEP = "import time\n\n\ndef solve(text):\n    time.sleep(float(text))\n    return 1\n"


def rule_works(backend) -> bool:
    result = backend.run(RunRequest(RULE, RULE_TEXTS, labels=(0, 1)))
    return (result.predictions, result.per_example_errors, result.failure) == (RULE_PREDICTIONS, {}, "")


def state(container) -> dict:
    container.reload()
    return container.attrs["State"]


# ---------------------------------------------------------------- Docker: dead, killed, frozen


@pytest.mark.docker
def test_a_container_that_died_idle_is_replaced_before_it_is_used(hostile_docker):
    (container,) = hostile_docker.containers()
    restarts = hostile_docker.restarts
    container.kill()  # as the OOM killer or an operator would
    assert wait_for(lambda: not state(container)["Running"])
    assert rule_works(hostile_docker)  # the request itself does not pay for the dead worker
    assert hostile_docker.restarts == restarts + 1
    (fresh,) = hostile_docker.containers()
    assert fresh.id != container.id


@pytest.mark.docker
def test_a_request_whose_container_is_killed_runs_again_on_a_fresh_one(hostile_docker):
    """The sandbox failed, not the skill: the request is answered by a fresh container, never as the
    skill's crash (a verdict the store would keep)."""
    (container,) = hostile_docker.containers()
    restarts = hostile_docker.restarts
    results: queue.Queue = queue.Queue()
    request = RunRequest(SLEEP, ("3",), labels=(0, 1), trusted_builtins=True)
    thread = threading.Thread(target=lambda: results.put(hostile_docker.run(request, Limits(wall_s=20, call_s=40))))
    started = time.monotonic()
    thread.start()
    time.sleep(1.0)
    container.kill()
    thread.join(15)
    result = results.get_nowait()
    assert time.monotonic() - started < 12, "the host noticed the death long before the deadline"
    assert (result.predictions, result.failure) == ((1,), "")
    assert hostile_docker.restarts == restarts + 1
    assert container.id not in {c.id for c in hostile_docker.containers()}
    assert rule_works(hostile_docker)


@pytest.mark.docker
def test_a_daemon_that_stopped_answering_is_named_when_a_worker_cannot_be_replaced(tmp_path):
    """Fault audit: dockerd killed mid-run gave 'the sandbox could not start a worker (('Connection aborted.',
    FileNotFoundError(2, ...)))'. Here the backend's client is pointed at a socket no daemon serves (the real
    daemon stays up for the rest of the suite) and its one container is killed, so the pool must start another."""
    import docker

    from conftest import require_docker
    from engine.errors import SkillkilnError
    from sandbox.docker_backend import DockerBackend

    backend = DockerBackend(workers=1, client=require_docker())
    try:
        (container,) = backend.containers()
        backend._client = docker.DockerClient(base_url=f"unix://{tmp_path}/no-daemon.sock", version="1.41")  # gone
        container.kill()
        with pytest.raises(SkillkilnError, match=r"could not start a worker \(the Docker daemon stopped answering"):
            backend.run(RunRequest(RULE, RULE_TEXTS, labels=(0, 1)))
    finally:
        backend._client = require_docker()
        backend.close()


@pytest.mark.docker
def test_the_hosts_own_deadline_replaces_a_container_that_stops_answering(hostile_docker):
    (container,) = hostile_docker.containers()
    restarts = hostile_docker.restarts
    container.pause()  # frozen: the harness can neither answer nor enforce its own deadline
    started = time.monotonic()
    result = hostile_docker.run(RunRequest(RULE, RULE_TEXTS, labels=(0, 1)), Limits(wall_s=1.0))
    waited = time.monotonic() - started
    assert (result.predictions, result.failure) == (RULE_PREDICTIONS, "")  # answered by the fresh container
    assert 1.0 + hostile_docker._pool.host_margin_s - 0.1 <= waited < 20
    assert hostile_docker.restarts == restarts + 1
    assert rule_works(hostile_docker)
    assert container.id not in {c.id for c in hostile_docker.containers()}


@pytest.mark.docker
def test_a_container_killed_twice_at_once_is_gone_when_either_kill_returns():
    """close() and a request thread that lost the same worker both kill it: the second removal used to
    return at once (the daemon's 'removal in progress'), so close() could return, and the run exit, while
    the container was still listed (CI: a SIGHUP left one behind)."""
    import docker

    from sandbox.docker_backend import DockerWorker
    from sandbox.image import image_tag

    client = require_docker()
    for _ in range(4):
        worker = DockerWorker(client, image_tag(), 256, 1.0, 32)
        cid = worker.container.id
        go = threading.Barrier(2)
        other = threading.Thread(target=lambda: (go.wait(), worker.kill()))  # noqa: B023
        other.start()
        go.wait()
        worker.kill()
        with pytest.raises(docker.errors.NotFound):
            client.containers.get(cid)  # gone when this kill() returned, whichever thread removed it
        other.join(30)


@pytest.mark.docker
def test_containers_have_no_shm_and_no_log(hostile_docker):
    for container in hostile_docker.containers():
        host = container.attrs["HostConfig"]
        assert host["IpcMode"] == "none"  # no /dev/shm for candidates to leave state in
        assert host["LogConfig"]["Type"] == "none"  # the channel never lands on the host's disk
        assert host["PidsLimit"] == 64


@pytest.mark.docker
def test_a_big_request_is_answered_in_full(docker_backend):
    """Over the harness's small-request size: parsed after the fork, by parent and child."""
    texts = tuple(f"the the sentence number {i}" if i % 3 == 0 else f"a sentence number {i}" for i in range(20_000))
    assert len(json.dumps(texts)) > 64 * 1024
    result = docker_backend.run(RunRequest(RULE, texts, labels=(0, 1)))
    assert result.failure == "" and result.per_example_errors == {}
    assert result.predictions == tuple(0 if i % 3 == 0 else 1 for i in range(20_000))


# ---------------------------------------------------------------- parallel


def two_at_once(backend, seconds: float) -> tuple[float, list]:
    request = RunRequest(SLEEP, (str(seconds),), labels=(0, 1), trusted_builtins=True)
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(backend.run(request, Limits(wall_s=20, call_s=10))))
               for _ in range(2)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return time.monotonic() - started, results


@pytest.mark.docker
def test_two_slow_requests_on_two_workers_take_the_time_of_one(docker_backend):
    assert rule_works(docker_backend) and rule_works(docker_backend)  # both containers warm
    took, results = two_at_once(docker_backend, 1.5)
    assert [r.predictions for r in results] == [(1,), (1,)]
    assert took < 2.6, f"two 1.5 s requests took {took:.2f} s: they ran one after the other"


def test_two_slow_requests_on_two_local_workers_take_the_time_of_one():
    from sandbox.local_backend import LocalBackend

    backend = LocalBackend(workers=2)
    try:
        took, results = two_at_once(backend, 1.5)
    finally:
        backend.close()
    assert [r.predictions for r in results] == [(1,), (1,)]
    assert took < 2.6, f"two 1.5 s requests took {took:.2f} s: they ran one after the other"


# ---------------------------------------------------------------- the local fallback


def unshare_works(flags: str) -> bool:
    return shutil.which("unshare") is not None and subprocess.run(["unshare", flags, "true"], capture_output=True).returncode == 0


def test_local_backend_has_no_network_where_unshare_works(hostile_local):
    from sandbox.local_backend import LABEL

    assert LABEL == "local (weaker isolation)" and hostile_local.label == LABEL and hostile_local.weaker
    assert hostile_local.network_isolated == unshare_works("-rn")
    assert hostile_local.pid_isolated == unshare_works("-rnpf")
    if not hostile_local.network_isolated:
        pytest.skip("unshare -rn does not work here")
    code = ("import socket\n\n\ndef solve(text):\n    return len(socket.if_nameindex())\n")
    result = hostile_local.run(RunRequest(code, ("x",), labels=(0, 1), trusted_builtins=True))
    assert result.predictions == (1,)  # only lo: a network namespace of its own


def test_a_local_worker_that_died_is_replaced(hostile_local):
    (pid,) = hostile_local.worker_pids()
    restarts = hostile_local.restarts
    import os
    import signal

    os.killpg(pid, signal.SIGKILL)
    assert wait_for(lambda: not hostile_local._pool.workers()[0].alive())
    assert rule_works(hostile_local)
    assert hostile_local.restarts == restarts + 1


# ---------------------------------------------------------------- Pool with fake workers

HEADER = struct.Struct(">I")


def encode(obj) -> bytes:
    body = json.dumps(obj).encode()
    return HEADER.pack(len(body)) + body


class FakeWorker:
    """Says ready, then answers each request with whatever `answer(request)` returns (bytes)."""

    def __init__(self, answer):
        self.answer = answer
        self.out = bytearray(encode({"ready": True}))
        self.killed = False

    def send(self, payload: bytes) -> None:
        """A run request is two frames: the head (op, id, kind, n, limits), then the request."""
        (size,) = HEADER.unpack(payload[:4])
        head = json.loads(payload[4:4 + size])
        (rest,) = HEADER.unpack(payload[4 + size:8 + size])
        request = json.loads(payload[8 + size:8 + size + rest])
        assert len(payload) == 8 + size + rest and head["n"] == len(request["texts"]) and "id" not in request
        self.out += self.answer({**request, "id": head["id"]})

    def recv(self, size: int, deadline: float) -> bytes:
        from sandbox.pool import WorkerGone

        if len(self.out) < size:
            raise WorkerGone("the fake worker has nothing more to say")
        data = bytes(self.out[:size])
        del self.out[:size]
        return data

    def alive(self) -> bool:
        return not self.killed

    def kill(self) -> None:
        self.killed = True


def good(request) -> bytes:
    return encode({"ok": True, "id": request["id"], "outputs": [1] * len(request["texts"]), "errors": {}})


def make_pool(answers):
    from sandbox.pool import Pool

    made = []

    def factory():
        worker = FakeWorker(answers[min(len(made), len(answers) - 1)])
        made.append(worker)
        return worker

    return Pool(factory, 1), made


@pytest.mark.parametrize("bad, reason", [
    (lambda r: encode({"ok": True, "id": "someone-else", "outputs": [0], "errors": {}}),
     "sandbox: the harness answered another request (the channel is out of step)"),
    (lambda r: HEADER.pack(5) + b"nope!", "sandbox: the harness sent a frame that is not JSON"),
    (lambda r: HEADER.pack(200_000) + b"[" * 100_000 + b"]" * 100_000, "sandbox: the harness sent a frame that is not JSON"),
    (lambda r: encode([1, 2]), "sandbox: the harness answered with no object"),
    (lambda r: b"", "sandbox: the fake worker has nothing more to say"),
])
def test_a_worker_that_breaks_the_protocol_is_replaced(bad, reason):
    from sandbox.pool import SandboxFailure

    pool, made = make_pool([bad, good])
    result = pool.run(RunRequest("x", ("a",)), Limits())
    assert (result.predictions, result.failure) == ((1,), "")  # run again on the fresh worker
    assert made[0].killed and pool.restarts == 1
    assert pool.run(RunRequest("x", ("a", "b")), Limits()).predictions == (1, 1)
    # lost twice on one request: the run failed as a whole, saying why (it ended the whole run, though a skill
    # past the guards kills its worker on purpose: sandbox audit)
    pool, made = make_pool([bad, bad, good])
    lost = pool.run(RunRequest("x", ("a",)), Limits())
    prefix = reason.removeprefix("sandbox: ")
    assert (lost.predictions, lost.failure) == (None, f"sandbox: the sandbox lost a worker twice on one request "
                                                      f"({prefix}; then {prefix}): the skill's run killed the worker both times")
    assert pool.run(RunRequest("x", ("a",)), Limits()).predictions == (1,) and pool.restarts == 2
    # three requests in a row that way: the sandbox is failing, which is no verdict on the skills
    pool, made = make_pool([bad] * 7 + [good])
    assert [pool.run(RunRequest("x", ("a",)), Limits()).predictions for _ in range(2)] == [None, None]
    with pytest.raises(SandboxFailure) as failed:
        pool.run(RunRequest("x", ("a",)), Limits())
    assert str(failed.value) == (f"the sandbox lost a worker twice on one request ({prefix}; then {prefix}); "
                                 "3 requests in a row lost theirs twice: the sandbox is failing")


def test_a_request_answered_between_two_lost_twice_starts_the_count_again():
    from sandbox.pool import Pool

    def answer(request):  # a worker dies under the text "kill" (its skill kills it), and answers the rest
        return b"" if request["texts"] == ["kill"] else good(request)

    pool = Pool(lambda: FakeWorker(answer), 1)
    for _ in range(4):  # never 3 in a row: each is the candidate's own failure, and the pool goes on
        assert pool.run(RunRequest("x", ("kill",)), Limits()).failure.startswith("sandbox: the sandbox lost a worker twice")
        assert pool.run(RunRequest("x", ("kill",)), Limits()).predictions is None
        assert pool.run(RunRequest("x", ("a",)), Limits()).predictions == (1,)
    assert pool.restarts == 16


def test_a_closed_pool_answers_no_one_and_waits_for_nothing():
    from sandbox.pool import SandboxFailure

    pool, _ = make_pool([good])
    pool.close()
    with pytest.raises(SandboxFailure, match="the sandbox is closed"):
        pool.run(RunRequest("x", ("a",)), Limits())


class SilentWorker(FakeWorker):
    """A worker whose harness never says ready: its recv waits, up to its deadline, until it is killed."""

    def __init__(self):
        super().__init__(good)
        self.out = bytearray()
        self.gone = threading.Event()

    def recv(self, size: int, deadline: float) -> bytes:
        from sandbox.pool import WorkerGone

        self.gone.wait(max(0.0, deadline - time.monotonic()))
        raise WorkerGone("the silent worker was killed" if self.gone.is_set() else "the silent worker missed its deadline")

    def kill(self) -> None:
        self.killed = True
        self.gone.set()


def request_in_background(pool) -> queue.Queue:
    """One request to POOL in a thread of its own; the queue gets its result, or the SandboxFailure it raised."""
    from sandbox.pool import SandboxFailure

    outcome: queue.Queue = queue.Queue()

    def request():
        try:
            outcome.put(pool.run(RunRequest("x", ("a",)), Limits()))
        except SandboxFailure as exc:
            outcome.put(exc)

    threading.Thread(target=request, daemon=True).start()
    return outcome


def test_close_kills_a_replacement_still_being_made():
    """CI: a SIGHUP during a request left one container running after the run's exit. A replacement whose
    container was still being created when close() ran joined the pool afterwards, and no one killed it.
    close() now waits for such a start, and the start kills what it made."""
    from sandbox.pool import Pool, SandboxFailure

    creating, release, made = threading.Event(), threading.Event(), []

    def factory():
        if made:  # the replacement: its container takes a while to create
            creating.set()
            release.wait(10)
        made.append(FakeWorker(good if len(made) else (lambda r: b"")))
        return made[-1]

    pool = Pool(factory, 1)
    outcome = request_in_background(pool)  # its worker breaks: a replacement is started
    assert creating.wait(10)
    closer = threading.Thread(target=pool.close)
    closer.start()
    closer.join(0.5)
    assert closer.is_alive(), "close() returned while a worker was being made"
    release.set()
    closer.join(10)
    assert not closer.is_alive()
    assert len(made) == 2 and all(w.killed for w in made), "the replacement outlived the pool"
    assert isinstance(outcome.get(timeout=10), SandboxFailure) and pool.workers() == []


def test_close_wakes_a_replacement_waiting_to_say_ready():
    """A replacement made but not yet ready is killed by close() at once, not left waiting out its
    60 s start deadline (the container running all the while)."""
    from sandbox.pool import Pool, SandboxFailure

    made: list = []

    def factory():
        made.append(SilentWorker() if made else FakeWorker(lambda r: b""))
        return made[-1]

    pool = Pool(factory, 1)
    outcome = request_in_background(pool)
    assert wait_for(lambda: len(made) == 2)
    time.sleep(0.2)  # it is waiting for the harness's hello
    started = time.monotonic()
    pool.close()
    assert made[1].killed, "close() left the starting worker alive"
    assert isinstance(outcome.get(timeout=5), SandboxFailure)
    assert time.monotonic() - started < 5


def test_an_idle_worker_found_dead_is_replaced_before_use():
    pool, made = make_pool([good])
    made[0].killed = True  # died while idle
    assert pool.run(RunRequest("x", ("a",)), Limits()).predictions == (1,)
    assert pool.restarts == 1 and len(made) == 2


def test_failure_texts_from_the_sandbox_are_safe_to_store():
    def surrogate(request):
        return encode({"ok": False, "id": request["id"], "failure": "crash: \udc80 \ud800"})

    pool, _ = make_pool([surrogate])
    result = pool.run(RunRequest("x", ("a",)), Limits())
    assert result.failure == "crash: \\udc80 \\ud800"
    result.failure.encode("utf-8")


def test_a_pool_that_cannot_start_a_replacement_says_so():
    from engine.errors import SkillkilnError
    from sandbox.pool import Pool, WorkerGone

    starts = []

    def factory():
        starts.append(1)
        if len(starts) > 1:
            raise WorkerGone("no daemon")
        return FakeWorker(lambda r: b"")

    pool = Pool(factory, 1)
    with pytest.raises(SkillkilnError, match="could not start a worker"):  # the only worker broke: none to retry on
        pool.run(RunRequest("x", ("a",)), Limits())


def test_a_killed_hosts_local_scratch_is_removed_by_the_next_backend(tmp_path, monkeypatch):
    """kill -9 of a run on the local backend left /tmp/skillkiln-local-* behind for good (32 on this machine)."""
    import os
    import tempfile

    from sandbox import local_backend

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = tmp_path / f"skillkiln-local-{gone.pid}-abc"
    fresh_dead = tmp_path / f"skillkiln-local-{gone.pid}-def"
    alive = tmp_path / f"skillkiln-local-{os.getpid()}-ghi"
    for path in (dead, fresh_dead, alive):
        path.mkdir()
    old = time.time() - 3600
    os.utime(dead, (old, old))
    os.utime(alive, (old, old))
    assert local_backend.remove_stale_scratch() == 1
    assert not dead.exists() and fresh_dead.exists() and alive.exists()  # a fresh one may be another namespace's


def test_a_harness_that_gave_up_is_replaced_and_its_request_run_again():
    """A harness that cannot clear what a skill left answers the next request 'sandbox: ...' and exits:
    that request is the next candidate's, so it runs again on a fresh worker instead of being its crash.
    A child's answer cannot say it (the server rebuilds it key by key; `gave_up` is not one of them)."""
    def gave_up(request):
        return encode({"ok": False, "id": request["id"], "gave_up": True,
                       "failure": "sandbox: the harness could not clear what a skill left"})

    pool, made = make_pool([gave_up, good])
    result = pool.run(RunRequest("x", ("a",)), Limits())
    assert (result.predictions, result.failure) == ((1,), "") and made[0].killed and pool.restarts == 1
    forged = lambda r: encode({"ok": False, "id": r["id"], "failure": "sandbox: forged by a skill"})  # noqa: E731
    pool, made = make_pool([forged, good])
    result = pool.run(RunRequest("x", ("a",)), Limits())
    assert (result.predictions, result.failure, pool.restarts) == (None, "sandbox: forged by a skill", 0)
