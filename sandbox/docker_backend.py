"""The Docker backend: a pool of warm containers, each running the harness as a fork server.

Containers have no network, a read-only root, a small noexec tmpfs, a non-root user, no
capabilities, no-new-privileges, Docker's default seccomp profile, memory, pids and CPU
limits, an environment holding only the image's (PYTHONHASHSEED=0; 1 in the one worker the gate's
out-of-context run asks for, RunRequest.hash_seed), no /dev/shm (IPC mode none) nor
System V IPC (its limits 0), and no log (nothing the channel
carries is written to the host's disk). Host and harness talk over the container's attached
stdin/stdout (Docker's multiplexed stream; only stdout is attached). The harness is the
container's init: after each request it kills whatever a skill left running and wipes
/tmp and /dev/mqueue, so candidates never see each other's state.
"""
from __future__ import annotations

import os
import select
import socket
import struct
import threading
import time

from engine.errors import SkillkilnError
from engine.records import ExecResult
from sandbox.backend import Limits, RunRequest
from sandbox.image import BUILD_COMMAND, image_exists, image_tag
from sandbox.pool import HOST_MARGIN_S, SeededPools, WorkerGone

LABEL = "docker"
MUX_HEADER = struct.Struct(">BxxxI")  # Docker's attach stream: stream type, 3 pad bytes, length
CONTAINER_LABEL = "skillkiln.sandbox"
SEND_TIMEOUT_S = 30.0
SCRATCH = ("/tmp", "/dev/mqueue")  # the only writable places; the harness wipes them after each request
# -s -P rather than -I, which would ignore the image's PYTHONHASHSEED=0 (see Dockerfile.sandbox)
HARNESS_COMMAND = ["python3", "-s", "-P", "/opt/skillkiln/harness.py", "serve"] + [a for d in SCRATCH for a in ("--scratch", d)]


def docker_client(timeout: int = 60):
    """A client for a daemon that answers, or one clear SkillkilnError."""
    try:
        import docker

        client = docker.from_env(timeout=timeout)
        client.ping()
        return client
    except Exception as exc:  # the SDK raises several types for "no daemon"
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise SkillkilnError(
            f"Docker daemon not reachable ({reason}); start dockerd, or use --sandbox local"
        ) from None


def docker_available() -> bool:
    try:
        docker_client(timeout=5)
        return True
    except SkillkilnError:
        return False


# System V shared memory, queues and semaphores outlive the process that made them, so a skill's
# segment would be there for the next request's child to read; the container's own IPC namespace
# gets none (every limit 0: shmget/semget fail with EINVAL, msgget with ENOSPC).
NO_SYSV_IPC = {
    "kernel.shmmax": "0", "kernel.shmall": "0", "kernel.shmmni": "0",
    "kernel.msgmni": "0", "kernel.sem": "0 0 0 0",
}


class DockerWorker:
    def __init__(self, client, image: str, mem_mb: int, cpus: float, pids: int, hash_seed: int = 0):
        self._killing = threading.Lock()  # kill() from two threads at once: the second waits for the first
        self._removed = False
        self._container = client.containers.create(
            image,
            command=HARNESS_COMMAND,
            stdin_open=True,
            tty=False,
            network_mode="none",
            ipc_mode="none",
            sysctls=NO_SYSV_IPC,
            read_only=True,
            tmpfs={"/tmp": "rw,noexec,nosuid,nodev,size=64m"},
            mem_limit=f"{mem_mb}m",
            memswap_limit=f"{mem_mb}m",
            pids_limit=pids,
            nano_cpus=int(cpus * 1e9),
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            user="65534:65534",
            environment={"PYTHONHASHSEED": str(hash_seed)} if hash_seed else {},  # else the image's: 0
            working_dir="/tmp",
            log_config={"type": "none"},
            labels={CONTAINER_LABEL: str(os.getpid()), OWNER_LABEL: owner_tag(os.getpid())},
        )
        try:
            sock = self._container.attach_socket(params={"stdin": 1, "stdout": 1, "stderr": 0, "stream": 1})
            self._sock: socket.socket = getattr(sock, "_sock", sock)
            self._container.start()
        except Exception:
            self.kill()
            raise
        # reads wait in select() for their own deadline; this bounds a send to a harness that
        # stopped reading (a frozen container)
        self._sock.settimeout(SEND_TIMEOUT_S)
        self._raw = bytearray()  # what came off the socket: Docker's multiplexed frames
        self._buffer = bytearray()  # the harness's stdout, demultiplexed

    def send(self, payload: bytes) -> None:
        try:
            self._sock.sendall(payload)
        except OSError:
            raise WorkerGone("the container's channel is closed") from None

    def _fill(self, deadline: float) -> None:
        """One read of whatever the socket holds (up to 1 MB), within the deadline."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerGone("the container missed its deadline")
            try:
                readable, _, _ = select.select([self._sock], [], [], left)
                if not readable:
                    continue
                chunk = self._sock.recv(1 << 20)
            except (OSError, ValueError):
                raise WorkerGone("the container's channel broke") from None
            if not chunk:
                raise WorkerGone("the container closed its channel (it may have been killed)")
            self._raw += chunk
            return

    def recv(self, size: int, deadline: float) -> bytes:
        raw, buffer = self._raw, self._buffer
        while len(buffer) < size:
            while len(raw) >= MUX_HEADER.size:
                stream, length = MUX_HEADER.unpack_from(raw)
                end = MUX_HEADER.size + length
                if len(raw) < end:
                    break
                if stream == 1:  # stdout; stderr (2) is the harness's own and is dropped
                    buffer += raw[MUX_HEADER.size:end]
                del raw[:end]
            if len(buffer) >= size:
                break
            self._fill(deadline)
        out = bytes(buffer[:size])
        del buffer[:size]
        return out

    def alive(self) -> bool:
        """An idle harness sends nothing: a readable channel (or bytes left over from the last
        answer) means it closed (the container died) or it is out of step. Either way the worker
        is not used."""
        if self._raw or self._buffer:
            return False
        try:
            readable, _, _ = select.select([self._sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable

    def why_gone(self) -> str:
        """What became of the container, for the failure reason (one API call, on failure only)."""
        try:
            self._container.reload()
            state = self._container.attrs.get("State", {})
        except Exception:  # noqa: BLE001 - already removed
            return "the container is gone"
        if state.get("OOMKilled"):
            return "the container was killed by the OOM killer"
        if state.get("Paused"):
            return "the container was paused"
        if state.get("Status") == "exited":
            return f"the container exited with code {state.get('ExitCode')}"
        return ""

    @property
    def container(self):
        return self._container

    def kill(self) -> None:
        """Close the channel and remove the container; when it returns the container is gone. A pool's
        close() and the request thread that lost the same worker both call it: the daemon answers a second
        removal 'in progress' at once, so without the lock one caller would return (and the run exit) while
        the container was still there."""
        with self._killing:
            if self._removed:
                return
            try:  # shutdown first: it wakes a thread waiting on the socket in select(), which close() does not
                self._sock.shutdown(socket.SHUT_RDWR)
            except (OSError, AttributeError):
                pass
            try:
                self._sock.close()
            except (OSError, AttributeError):
                pass
            try:
                self._container.remove(force=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
            self._removed = True


OWNER_LABEL = "skillkiln.owner"  # boot id, pid namespace and start time of the process that made it


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def process_start(pid: int) -> str:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22); "" if it is gone."""
    stat = _read(f"/proc/{pid}/stat")
    fields = stat.rpartition(")")[2].split()  # the command name, in brackets, may hold spaces
    return fields[19] if len(fields) > 19 else ""


def owner_tag(pid: int) -> str:
    """Who made a container, so that only its own host and PID namespace judge it stale: a run in another
    namespace (a CI job sharing the daemon) has pids this one cannot see, and a reused pid is not its owner."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return f"{_read('/proc/sys/kernel/random/boot_id')}|{namespace}|{process_start(pid)}"


def _listed(container) -> tuple[str, dict[str, str]]:
    """(status, labels) of a container from a sparse listing (the list endpoint's own fields), or of a
    full one (inspected)."""
    attrs = container.attrs
    state = attrs.get("State")
    status = state.get("Status", "") if isinstance(state, dict) else str(state or "")
    labels = attrs.get("Labels") if "Labels" in attrs else (attrs.get("Config") or {}).get("Labels")
    return status, labels or {}


def stale(container, here: str) -> bool:
    """Exited or dead: no one's. Running, paused or just created: stale only if it was made on this host
    (boot) in this PID namespace by a process that is gone (its pid missing, or now another process's)."""
    status, labels = _listed(container)
    if status in ("exited", "dead"):
        return True
    boot, namespace, _ = here.split("|")
    owner = labels.get(OWNER_LABEL, "")
    pid = labels.get(CONTAINER_LABEL, "")
    parts = owner.split("|")
    if len(parts) != 3 or not pid.isdigit() or parts[0] != boot or parts[1] != namespace or not boot or not namespace:
        return False  # another host, another namespace, or made before owners were labelled: not ours to judge
    return process_start(int(pid)) != parts[2]


def remove_stale_containers(client) -> int:
    """Remove sandbox containers whose owning process is gone (a killed run leaves them)."""
    removed = 0
    here = owner_tag(os.getpid())
    try:  # sparse: a full listing inspects each container, and one its owner removes meanwhile is a NotFound
        listed = client.containers.list(all=True, sparse=True, filters={"label": CONTAINER_LABEL})
    except Exception:  # noqa: BLE001 - best effort: the run does not depend on it (the daemon is checked elsewhere)
        return 0
    for container in listed:
        if not stale(container, here):
            continue
        try:
            container.remove(force=True)
            removed += 1
        except Exception:  # noqa: BLE001 - gone already, or being removed by its owner
            pass
    return removed


# Each container's CPU quota. A skill runs on one CPU; the harness forks the next request's spare
# and warms it up meanwhile. With a quota of exactly 1 CPU that work pushed the container over its
# quota while a split was scored (throttled about 3.5 ms per CoLA train request, measured from
# the cgroup's cpu.stat); half a CPU more leaves room for it and still caps a skill.
CPUS = 1.5


class DockerBackend:
    name = "docker"
    weaker = False
    label = LABEL

    def __init__(self, workers: int = 1, client=None, image: str | None = None,
                 mem_mb: int = 1024, cpus: float = CPUS, pids: int = 64, host_margin_s: float = HOST_MARGIN_S):
        self._client = client or docker_client()
        self.image = image or image_tag()
        if image is None and not image_exists(self._client):
            raise SkillkilnError(f"sandbox image {self.image} is missing; build it with: {BUILD_COMMAND}")
        remove_stale_containers(self._client)
        def worker(seed: int) -> DockerWorker:
            try:
                return DockerWorker(self._client, self.image, mem_mb, cpus, pids, seed)
            except Exception as exc:
                try:
                    self._client.ping()
                except Exception:  # noqa: BLE001 - the SDK raises several types for "no daemon"
                    raise SkillkilnError("the Docker daemon stopped answering (start dockerd again)") from exc
                raise

        try:
            self._pools = SeededPools(worker, workers, host_margin_s=host_margin_s)
            self._pool = self._pools.pools[0]  # the workers of seed 0, which every request but one a run uses
        except WorkerGone as exc:
            raise SkillkilnError(f"the sandbox container did not start ({exc})") from None

    @property
    def restarts(self) -> int:
        """Containers killed and replaced (died, stopped answering, or broke the protocol)."""
        return self._pools.restarts

    def containers(self) -> list:
        """The pool's containers (docker SDK objects), for tests and inspection."""
        return [w.container for w in self._pool.workers()]

    def run(self, request: RunRequest, limits: Limits = Limits()) -> ExecResult:
        return self._pools.run(request, limits)

    def close(self) -> None:
        self._pools.close()
