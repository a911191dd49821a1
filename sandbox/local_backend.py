"""The weaker fallback when Docker is absent: the same harness in a local subprocess.

Isolation is rlimits, a fresh fork per candidate, an empty environment and a private
temporary directory, and no network namespace where `unshare -rn` works. There is no
filesystem or kernel isolation: every log line and summary names it `local (weaker isolation)`.
"""
from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import tempfile
import time

from engine.records import ExecResult
from sandbox.backend import Limits, RunRequest
from sandbox.image import HARNESS
from sandbox.pool import Pool, WorkerGone

LABEL = "local (weaker isolation)"


def hypothesis_cache() -> str:
    """Hypothesis's unicode tables, kept between runs so each start does not rebuild them."""
    from platformdirs import user_cache_dir

    path = os.path.join(user_cache_dir("skillkiln"), "hypothesis")
    os.makedirs(path, exist_ok=True)
    return path


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    done = subprocess.run(["unshare", "-rn", "true"], capture_output=True)
    return done.returncode == 0


class LocalWorker:
    def __init__(self, no_network: bool):
        self._tmp = tempfile.mkdtemp(prefix="skillkiln-local-")
        cmd = [sys.executable, "-I", str(HARNESS), "serve"]
        if no_network:
            cmd = ["unshare", "-rn", *cmd]
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            cwd=self._tmp,
            env={"HOME": self._tmp, "PATH": "/usr/bin:/bin", "TMPDIR": self._tmp,
                 "HYPOTHESIS_STORAGE_DIRECTORY": hypothesis_cache()},
            start_new_session=True,
        )

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


class LocalBackend:
    name = "local"
    weaker = True
    label = LABEL

    def __init__(self, workers: int = 1):
        no_network = _unshare_works()
        self.network_isolated = no_network
        self._pool = Pool(lambda: LocalWorker(no_network), workers)

    def run(self, request: RunRequest, limits: Limits = Limits()) -> ExecResult:
        return self._pool.run(request, limits)

    def close(self) -> None:
        self._pool.close()
