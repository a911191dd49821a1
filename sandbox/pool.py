"""A pool of warm harness workers (containers or subprocesses), one request at a time each.

A worker that stops answering, answers garbage or dies is killed and replaced; the
request it was serving fails with a clear reason and the pool carries on.
"""
from __future__ import annotations

import json
import queue
import struct
import threading
from concurrent.futures import ThreadPoolExecutor
import time
from typing import Callable, Protocol

from engine.records import ExecResult
from sandbox.backend import Limits, RunRequest, decode_result

HEADER = struct.Struct(">I")
HOST_MARGIN_S = 10.0  # the host's own deadline is the harness's plus this


class WorkerGone(Exception):
    """The worker died, timed out or broke the protocol."""


class Worker(Protocol):
    def send(self, payload: bytes) -> None: ...

    def recv(self, size: int, deadline: float) -> bytes: ...

    def kill(self) -> None: ...


def frame(obj) -> bytes:
    body = json.dumps(obj, ensure_ascii=True).encode()
    return HEADER.pack(len(body)) + body


def read_frame(worker: Worker, deadline: float, cap: int):
    (size,) = HEADER.unpack(worker.recv(HEADER.size, deadline))
    if size > cap:
        raise WorkerGone(f"the harness sent a {size} byte frame, over the {cap} byte cap")
    try:
        return json.loads(worker.recv(size, deadline))
    except ValueError:
        raise WorkerGone("the harness sent a frame that is not JSON") from None


class Pool:
    def __init__(self, factory: Callable[[], Worker], size: int, start_timeout_s: float = 60.0):
        self._factory = factory
        self._start_timeout_s = start_timeout_s
        self._idle: queue.Queue[Worker] = queue.Queue()
        self._all: list[Worker] = []
        self._lock = threading.Lock()
        self.restarts = 0
        with ThreadPoolExecutor(max_workers=size) as starter:  # containers start side by side
            futures = [starter.submit(self._start) for _ in range(size)]
        failed = [f.exception() for f in futures if f.exception() is not None]
        for future in futures:
            if future.exception() is None:
                self._idle.put(future.result())
        if failed:
            self.close()
            raise failed[0]

    def _start(self) -> Worker:
        worker = self._factory()
        try:
            hello = read_frame(worker, time.monotonic() + self._start_timeout_s, 1 << 16)
        except WorkerGone:
            worker.kill()
            raise
        if not isinstance(hello, dict) or not hello.get("ready"):
            worker.kill()
            raise WorkerGone(f"the harness did not say ready (said {str(hello)[:80]})")
        with self._lock:
            self._all.append(worker)
        return worker

    def _replace(self, worker: Worker) -> None:
        worker.kill()
        with self._lock:
            if worker in self._all:
                self._all.remove(worker)
        self.restarts += 1
        self._idle.put(self._start())

    def run(self, request: RunRequest, limits: Limits) -> ExecResult:
        worker = self._idle.get()
        started = time.monotonic()
        try:
            worker.send(frame(request.to_wire(limits)))
            resp = read_frame(worker, started + limits.wall_s + HOST_MARGIN_S, limits.result_bytes + (1 << 20))
        except WorkerGone as exc:
            self._replace(worker)
            return ExecResult(predictions=None, wall_s=time.monotonic() - started,
                              timed_out="deadline" in str(exc), failure=f"sandbox: {exc}")
        self._idle.put(worker)
        if not isinstance(resp, dict):
            return ExecResult(predictions=None, failure="sandbox: the harness answered with no object")
        return decode_result(resp, len(request.texts))

    def close(self) -> None:
        with self._lock:
            workers, self._all = self._all, []
        for worker in workers:
            worker.kill()
