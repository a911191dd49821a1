"""A pool of warm harness workers (containers or subprocesses), one request at a time each.

N workers serve N requests at once. A worker that stops answering (the host's own deadline:
the harness's plus a margin), answers garbage or another request's id, or dies (an OOM kill,
a `docker kill`) is killed and replaced; the request it was serving fails with a clear
reason and the pool carries on. An idle worker found dead is replaced before it is used, so
the next request does not pay for it. Every replacement counts in `restarts`.
"""
from __future__ import annotations

import hashlib
import json
import queue
import secrets
import struct
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Protocol

from engine.errors import SkillkilnError
from engine.records import ExecResult
from sandbox.backend import Limits, RunRequest, decode_result

HEADER = struct.Struct(">I")
HOST_MARGIN_S = 10.0  # the host's own deadline is the harness's plus this
START_ATTEMPTS = 3
CLOSE_WAIT_S = 20.0  # close() waits this long at most for a worker being created
# Requests in a row that each lost a worker twice before the pool calls the sandbox failing. One such
# request is the candidate's failure (it killed its worker twice, as a skill past the guards can): it
# must not end a run.
LOST_IN_A_ROW = 3


class WorkerGone(Exception):
    """The worker died, timed out or broke the protocol."""


class SandboxFailure(SkillkilnError):
    """The sandbox, not the skill, failed a request twice (or was closed under it): nothing to judge."""


class Worker(Protocol):
    def send(self, payload: bytes) -> None: ...

    def recv(self, size: int, deadline: float) -> bytes: ...

    def kill(self) -> None: ...

    # optional: def alive(self) -> bool: a cheap check that an idle worker is still there
    # optional: def why_gone(self) -> str: what became of a worker that vanished (e.g. OOM-killed)


def frame(obj) -> bytes:
    body = json.dumps(obj, ensure_ascii=True).encode()
    return HEADER.pack(len(body)) + body


class TextsCache:
    """The JSON of recently sent text tuples, and a key for each: an evaluator sends the same
    splits (train subset, the rest of train, validation) for every candidate. Encoding thousands
    of texts costs milliseconds, and so does sending and parsing them again: a worker's harness
    keeps the texts it was sent under their key (see Pool.run), and a request whose texts it
    holds carries only the key. Keyed by the tuple itself (strings cache their hashes)."""

    def __init__(self, size: int = 8):
        self._size = size
        self._cache: OrderedDict[tuple, tuple[str, str]] = OrderedDict()
        self._lock = threading.Lock()

    def encode(self, texts: tuple) -> tuple[str, str]:
        """(the texts' JSON, their key); the key is "" for a few texts, which are always sent."""
        if len(texts) < 256:  # small: cheaper to encode than to hash and keep
            return json.dumps(list(texts), ensure_ascii=True), ""
        with self._lock:
            hit = self._cache.get(texts)
            if hit is not None:
                self._cache.move_to_end(texts)
                return hit
        encoded = json.dumps(list(texts), ensure_ascii=True)
        entry = encoded, hashlib.sha256(encoded.encode()).hexdigest()[:32]
        with self._lock:
            self._cache[texts] = entry
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return entry


def request_frame(request: RunRequest, limits: Limits, nonce: str, cache: TextsCache,
                  held: frozenset[str] = frozenset()) -> bytes:
    """A request on the wire: a head the harness's server reads (op, id, kind, n, limits, the
    texts' key), then request.to_wire(limits) as a second frame, which only the child that runs
    it parses: with the texts' JSON from the cache, or, when the worker holds them (`held`),
    with texts null and their key."""
    wire = request.to_wire(limits)
    del wire["texts"]
    encoded, key = cache.encode(tuple(request.texts))
    head = {"op": "run", "id": nonce, "kind": request.kind, "n": len(request.texts), "limits": wire["limits"]}
    if key:
        head["texts_key"] = wire["texts_key"] = key
        head["texts_sent"] = key not in held
    if key and key in held:
        body = json.dumps({**wire, "texts": None}, ensure_ascii=True).encode()
    else:
        front = json.dumps(wire, ensure_ascii=True)
        body = (front[:-1] + ', "texts": ' + encoded + "}").encode()
    return frame(head) + HEADER.pack(len(body)) + body


def texts_held(resp: dict) -> frozenset[str]:
    """The keys of the texts a harness says it holds (after its answer)."""
    keys = resp.get("texts_held")
    if not isinstance(keys, list) or len(keys) > 16:
        return frozenset()
    return frozenset(k for k in keys if isinstance(k, str) and len(k) <= 64)


def read_frame(worker: Worker, deadline: float, cap: int):
    (size,) = HEADER.unpack(worker.recv(HEADER.size, deadline))
    if size > cap:
        raise WorkerGone(f"the harness sent a {size} byte frame, over the {cap} byte cap")
    try:
        return json.loads(worker.recv(size, deadline))
    except (ValueError, RecursionError):
        raise WorkerGone("the harness sent a frame that is not JSON") from None


def clean(text: Any, limit: int = 2000) -> str:
    """A string from the sandbox that is safe to print and store (no lone surrogates)."""
    return str(text)[:limit].encode("utf-8", "backslashreplace").decode("utf-8")


def sanitize(resp: dict[str, Any]) -> dict[str, Any]:
    """Texts in an answer made safe for the host (the harness already does this; a forged or
    broken answer must not crash the store with a lone surrogate)."""
    if "failure" in resp:
        resp["failure"] = clean(resp["failure"]) if resp["failure"] else ""
    errors = resp.get("errors")
    if isinstance(errors, dict):
        resp["errors"] = {k: clean(v, 1000) for k, v in errors.items()}
    props = resp.get("properties")
    if isinstance(props, dict):
        resp["properties"] = {
            clean(name, 100): ({**o, "detail": clean(o.get("detail", ""), 500)} if isinstance(o, dict) else o)
            for name, o in props.items()
        }
    return resp


class SeededPools:
    """A backend's workers: a pool of SIZE with string hash seed 0, and, started when first asked for,
    one worker for each other seed a request names (RunRequest.hash_seed). FACTORY(seed) makes a worker."""

    def __init__(self, factory: Callable[[int], Worker], size: int, host_margin_s: float = HOST_MARGIN_S):
        self._factory = factory
        self._margin = host_margin_s
        self._lock = threading.Lock()
        self._closed = False
        self.pools = {0: Pool(lambda: factory(0), size, host_margin_s=host_margin_s)}

    def pool(self, seed: int) -> "Pool":
        with self._lock:
            if self._closed:
                raise SandboxFailure("the sandbox is closed")
            if seed not in self.pools:
                try:
                    self.pools[seed] = Pool(lambda: self._factory(seed), 1, host_margin_s=self._margin)
                except WorkerGone as exc:
                    raise SandboxFailure(f"the sandbox could not start a worker with string hash seed {seed} "
                                         f"({exc})") from None
            return self.pools[seed]

    def run(self, request: RunRequest, limits: Limits) -> ExecResult:
        if not request.hash_seed:
            return self.pools[0].run(request, limits)
        return self.pool(request.hash_seed).run(request, limits)

    @property
    def restarts(self) -> int:
        return sum(p.restarts for p in list(self.pools.values()))

    def workers(self) -> list[Worker]:
        return [w for p in list(self.pools.values()) for w in p.workers()]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pools = list(self.pools.values())
        for p in pools:
            p.close()


class Pool:
    def __init__(self, factory: Callable[[], Worker], size: int, start_timeout_s: float = 60.0,
                 host_margin_s: float = HOST_MARGIN_S):
        self._factory = factory
        self._start_timeout_s = start_timeout_s
        self.host_margin_s = host_margin_s
        self._idle: queue.Queue[Worker] = queue.Queue()
        self._all: list[Worker] = []
        self._lock = threading.Lock()
        self._missing = 0  # workers that died and could not be replaced yet
        self._lost_in_a_row = 0  # requests, one after another, that lost a worker twice each
        self._closed = False
        self._starting = 0  # factory calls under way (a container being created)
        self._started = threading.Condition(self._lock)
        self.size = size
        self.restarts = 0
        self._texts = TextsCache()
        self._held: dict[Worker, frozenset[str]] = {}  # per worker, the keys of the texts its harness holds
        starter = ThreadPoolExecutor(max_workers=size)  # containers start side by side
        futures: list[Future] = []
        try:
            for _ in range(size):
                futures.append(starter.submit(self._start))
            wait(futures)
        except BaseException:  # Ctrl-C while they start: no caller holds this pool to close it, so close it here
            for future in futures:
                future.cancel()
            # the starts under way finish, then all are killed. Waiting on the futures, not joining the
            # threads: Python 3.11 marks a thread whose join() Ctrl-C interrupted as stopped while it runs
            wait(futures)
            self.close()
            raise
        finally:
            starter.shutdown(wait=False)
        failed = [f.exception() for f in futures if f.exception() is not None]
        for future in futures:
            if future.exception() is None:
                self._idle.put(future.result())
        if failed:
            self.close()
            raise failed[0]

    def _start(self) -> Worker:
        """A new worker that said ready. One that close() meets while it starts is killed, also when its
        container is still being created (close waits for that): else it would outlive the run."""
        with self._lock:
            if self._closed:
                raise SandboxFailure("the sandbox is closed")
            self._starting += 1
        try:
            worker = self._factory()
            with self._lock:
                closed = self._closed
                if not closed:
                    self._all.append(worker)  # from here close() kills it, even before it says ready
            if closed:
                worker.kill()
                raise SandboxFailure("the sandbox was closed while a worker started")
            try:
                hello = read_frame(worker, time.monotonic() + self._start_timeout_s, 1 << 16)
                if not isinstance(hello, dict) or not hello.get("ready"):
                    raise WorkerGone(f"the harness did not say ready (said {str(hello)[:80]})")
            except BaseException:
                with self._lock:
                    if worker in self._all:
                        self._all.remove(worker)
                worker.kill()
                raise
            return worker
        finally:
            with self._lock:
                self._starting -= 1
                self._started.notify_all()

    def _discard(self, worker: Worker) -> None:
        worker.kill()
        self._held.pop(worker, None)
        with self._lock:
            if worker in self._all:
                self._all.remove(worker)
            self.restarts += 1
            self._missing += 1

    def _refill(self) -> None:
        """Start the workers that are missing; raise only if none is left to serve."""
        error: Exception | None = None
        while True:
            with self._lock:
                if self._missing <= 0 or self._closed:
                    return
                self._missing -= 1
            for attempt in range(START_ATTEMPTS):
                try:
                    self._idle.put(self._start())
                    error = None
                    break
                except SandboxFailure:  # closed meanwhile: no worker is wanted any more
                    raise
                except Exception as exc:  # noqa: BLE001 - a daemon hiccup, a slow start
                    error = exc
                    time.sleep(0.1 * (attempt + 1))
            if error is not None:
                with self._lock:
                    self._missing += 1
                    alive = len(self._all)
                if alive == 0:
                    raise SkillkilnError(f"the sandbox could not start a worker ({str(error)[:200]})")
                return

    def _take(self) -> Worker:
        """An idle worker that is still alive (a dead one is replaced here, before it is used)."""
        while True:
            with self._lock:
                if self._closed:  # closed under a caller (Ctrl-C): no worker will come
                    raise SandboxFailure("the sandbox is closed")
            self._refill()
            try:
                worker = self._idle.get(timeout=0.5)
            except queue.Empty:
                continue
            alive = getattr(worker, "alive", None)
            if alive is None or alive():
                return worker
            self._discard(worker)

    def run(self, request: RunRequest, limits: Limits) -> ExecResult:
        """The request's result. A worker lost on the way (killed, paused, out of step) is replaced
        and the request run once more on the fresh one: what failed may be the sandbox, not the skill,
        so one loss is never answered as the skill's crash or timeout. Lost twice: the run failed as a
        whole (a crash, with why), unless the requests before it were lost twice too (LOST_IN_A_ROW
        in all): then the sandbox is failing, and SandboxFailure says so."""
        first = self._run_once(request, limits)
        if not isinstance(first, str):
            return self._answered(first)
        with self._lock:
            closed = self._closed
        if closed:  # closed meanwhile (Ctrl-C): no retry, and nothing to judge
            raise SandboxFailure(f"the sandbox was closed during a request ({first})")
        again = self._run_once(request, limits)
        if not isinstance(again, str):
            return self._answered(again)
        why = f"the sandbox lost a worker twice on one request ({first}; then {again})"
        with self._lock:
            self._lost_in_a_row += 1
            streak, closed = self._lost_in_a_row, self._closed
        if closed or streak >= LOST_IN_A_ROW:
            raise SandboxFailure(why + (f"; {streak} requests in a row lost theirs twice: the sandbox is failing"
                                        if streak > 1 else ""))
        return ExecResult(predictions=None, failure=f"sandbox: {why}: the skill's run killed the worker both times")

    def _answered(self, result: ExecResult) -> ExecResult:
        with self._lock:
            self._lost_in_a_row = 0
        return result

    def _run_once(self, request: RunRequest, limits: Limits) -> ExecResult | str:
        """The result, or why the worker was lost (it is discarded and replaced)."""
        worker = self._take()
        started = time.monotonic()
        try:
            held = self._held.get(worker, frozenset())
            while True:
                nonce = secrets.token_hex(8)
                worker.send(request_frame(request, limits, nonce, self._texts, held))
                resp = read_frame(worker, started + limits.wall_s + self.host_margin_s, limits.result_bytes + (1 << 20))
                if not isinstance(resp, dict):
                    raise WorkerGone("the harness answered with no object")
                if resp.get("id") != nonce:
                    raise WorkerGone("the harness answered another request (the channel is out of step)")
                if resp.get("gave_up") is True:  # the harness itself could not go on (never a child's answer)
                    raise WorkerGone(str(resp.get("failure", "")).removeprefix("sandbox: ") or "the harness gave up")
                self._held[worker] = texts_held(resp)
                if not (resp.get("texts_missing") is True and held):
                    break
                held = frozenset()  # it no longer holds the texts it was sent: send them again
        except Exception as exc:  # noqa: BLE001 - WorkerGone, or anything else: the channel cannot be trusted
            why = getattr(worker, "why_gone", lambda: "")()
            self._discard(worker)
            try:
                self._refill()
            except SkillkilnError:
                pass  # the next run() says it
            said = str(exc) if isinstance(exc, WorkerGone) else f"{type(exc).__name__}: {exc}"
            return said + (f" ({why})" if why else "")
        self._idle.put(worker)
        return decode_result(sanitize(resp), len(request.texts))

    def workers(self) -> list[Worker]:
        with self._lock:
            return list(self._all)

    def close(self) -> None:
        """Kill every worker, then wait (up to CLOSE_WAIT_S) for the factory calls under way, which kill
        what they made: a container created after the process exits would be left running."""
        with self._lock:
            self._closed = True
            workers, self._all = self._all, []
        for worker in workers:
            worker.kill()
        with self._lock:
            self._started.wait_for(lambda: self._starting == 0, timeout=CLOSE_WAIT_S)
