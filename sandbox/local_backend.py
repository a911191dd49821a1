"""The weaker fallback when Docker is absent: the same harness in a local subprocess.

Isolation is rlimits, a fresh fork per candidate, an environment holding only paths and PYTHONHASHSEED=0 (1 in the
one worker the gate's out-of-context run asks for, RunRequest.hash_seed), and a private
temporary directory; where `unshare -rn` works, no network (a fresh, empty network
namespace); where `unshare -rnpf` works, also a PID namespace with the harness as its init,
so whatever a skill leaves running (even in a session of its own) is killed after each
request and a skill cannot signal the harness. There is no filesystem, memory-cgroup or
pids isolation: every log line and summary names it `local (weaker isolation)`.
"""
from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from engine.records import ExecResult
from sandbox.backend import Limits, RunRequest
from sandbox.image import HARNESS
from sandbox.pool import HOST_MARGIN_S, SeededPools, WorkerGone

LABEL = "local (weaker isolation)"


def hypothesis_cache() -> str:
    """Hypothesis's unicode tables, kept between runs so each start does not rebuild them."""
    from platformdirs import user_cache_dir

    path = os.path.join(user_cache_dir("skillkiln"), "hypothesis")
    os.makedirs(path, exist_ok=True)
    return path


def _unshare_flags() -> tuple[str, ...]:
    """The strongest `unshare` that works here: user+net+pid, user+net, or none."""
    if shutil.which("unshare") is None:
        return ()
    for flags in ("-rnpf", "-rn"):
        done = subprocess.run(["unshare", flags, "true"], capture_output=True)
        if done.returncode == 0:
            return (flags,)
    return ()


def _unshare_works() -> bool:
    return bool(_unshare_flags())


def isolation() -> str:
    """What the local backend isolates on this machine, in a phrase for its warning."""
    flags = _unshare_flags()
    namespaces = {"-rnpf": "no network and a PID namespace of its own", "-rn": "no network"}.get(flags[0] if flags else "")
    return ("rlimits, an environment holding only paths, a private temporary directory"
            + (f", {namespaces}" if namespaces else ", and the network (unshare does not work here)")
            + "; no filesystem or memory isolation")


class LocalWorker:
    def __init__(self, unshare: tuple[str, ...] | bool, hash_seed: int = 0):
        if unshare is True:  # the old signature: LocalWorker(no_network)
            unshare = ("-rn",)
        self._tmp = tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-")
        # -s -P, not -I (which ignores PYTHONHASHSEED): str hashes fixed, as in the container
        cmd = [sys.executable, "-s", "-P", str(HARNESS), "serve", "--scratch", self._tmp]
        if unshare:
            cmd = ["unshare", *unshare, *cmd]
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            cwd=self._tmp,
            env={"HOME": self._tmp, "PATH": "/usr/bin:/bin", "TMPDIR": self._tmp, "PYTHONHASHSEED": str(hash_seed),
                 "HYPOTHESIS_STORAGE_DIRECTORY": hypothesis_cache()},
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        """The process the worker started (`unshare`, or the harness itself without it)."""
        return self._proc.pid

    def alive(self) -> bool:
        if self._proc.poll() is not None:
            return False
        readable, _, _ = select.select([self._proc.stdout.fileno()], [], [], 0)
        return not readable  # an idle harness sends nothing: readable means closed or out of step

    def send(self, payload: bytes) -> None:
        try:
            self._proc.stdin.write(payload)
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise WorkerGone("the local harness is gone") from None

    def recv(self, size: int, deadline: float) -> bytes:
        fd = self._proc.stdout.fileno()
        chunks, got = [], 0
        while got < size:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerGone("the local harness missed its deadline")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, min(size - got, 1 << 20))
            if not chunk:
                raise WorkerGone("the local harness closed its channel")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def kill(self) -> None:
        try:
            os.killpg(self._proc.pid, 9)
        except (ProcessLookupError, PermissionError):
            pass
        self._proc.wait()
        shutil.rmtree(self._tmp, ignore_errors=True)


SCRATCH_PREFIX = "skillkiln-local-"  # then the host's pid: a killed host's folders are removed by the next
STALE_SCRATCH_S = 600.0


def remove_stale_scratch() -> int:
    """Scratch folders of local workers whose host process is gone (kill -9 leaves them), untouched for
    STALE_SCRATCH_S (a host in another PID namespace sharing /tmp has pids this one cannot see)."""
    removed = 0
    for path in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*-*"):
        owner = path.name[len(SCRATCH_PREFIX):].split("-", 1)[0]
        try:
            idle = time.time() - path.stat().st_mtime
        except OSError:
            continue
        if owner.isdigit() and not Path(f"/proc/{owner}").exists() and path.is_dir() and idle > STALE_SCRATCH_S:
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


class LocalBackend:
    name = "local"
    weaker = True
    label = LABEL

    def __init__(self, workers: int = 1, host_margin_s: float = HOST_MARGIN_S):
        remove_stale_scratch()
        unshare = _unshare_flags()
        self.network_isolated = bool(unshare)
        self.pid_isolated = unshare == ("-rnpf",)
        self._pools = SeededPools(lambda seed: LocalWorker(unshare, seed), workers, host_margin_s=host_margin_s)
        self._pool = self._pools.pools[0]  # the workers of seed 0, which every request but one a run uses

    @property
    def restarts(self) -> int:
        return self._pools.restarts

    def worker_pids(self) -> list[int]:
        """The pids of the pool's workers (for tests: what a request may leave behind)."""
        return [w.pid for w in self._pool.workers()]

    def run(self, request: RunRequest, limits: Limits = Limits()) -> ExecResult:
        return self._pools.run(request, limits)

    def close(self) -> None:
        self._pools.close()
