"""The sandbox harness: a fork server that runs untrusted skills, one fresh child per request.

It runs inside the sandbox (a Docker container, or a subprocess for the local backend),
with the standard library and hypothesis only: it must not import anything from skillkiln.

Protocol on stdin/stdout: frames of a 4-byte big-endian length and UTF-8 JSON.
  host -> harness: {"op": "run", "code", "texts", "kind", "labels", "limits", "properties",
                    "allowed_imports"} or {"op": "ping"}
  harness -> host: {"ok": true, "outputs": [...], "errors": {"i": "kind: message"},
                    "properties": {...}, "wall_s": float, "failure": ""}
Labels never come in: the harness returns raw outputs, the host scores them.

Each request forks a child that makes itself a session leader, points fds 0-2 at
/dev/null (so nothing a skill prints can reach the channel), applies rlimits, runs the
skill and writes one JSON result to a pipe. The parent reads it with a size cap and a
wall-clock deadline, then kills the child's whole process group, whatever it left behind.
The parent never runs skill code, so the next request starts from a pristine state.
"""
from __future__ import annotations

import builtins
import json
import os
import resource
import select
import signal
import struct
import sys
import time

SITE = "/opt/skillkiln/site"  # pure-Python wheels unpacked into the image
if os.path.isdir(SITE) and SITE not in sys.path:
    sys.path.insert(0, SITE)

# Imported once here so that every forked child gets them for free.
import collections  # noqa: E402,F401
import functools  # noqa: E402,F401
import itertools  # noqa: E402,F401
import math  # noqa: E402,F401
import re  # noqa: E402,F401
import string  # noqa: E402,F401
import unicodedata  # noqa: E402,F401

try:
    import hypothesis  # noqa: E402
    from hypothesis import HealthCheck, given, settings  # noqa: E402
    from hypothesis import strategies as st  # noqa: E402
except ImportError:  # the host checks for it; a harness without it reports properties as unavailable
    hypothesis = None

HEADER = struct.Struct(">I")
MAX_CALL_TIMEOUTS = 3
MAX_REQUEST = 256 * 1024 * 1024
DEFAULT_LIMITS = {
    "wall_s": 60.0,  # whole request
    "cpu_s": 60,
    "mem_mb": 512,
    "call_s": 2.0,  # one call of solve()
    "result_bytes": 32 * 1024 * 1024,
    "file_bytes": 1024 * 1024,
    "open_files": 64,
}
UNSAFE_BUILTINS = {
    "open", "exec", "eval", "compile", "input", "breakpoint", "globals", "locals", "vars",
    "help", "exit", "quit", "copyright", "credits", "license", "memoryview",
    "setattr", "delattr",
}


class CallTimeout(Exception):
    """Raised inside a skill when one call of solve() runs past its bound."""


# ---------------------------------------------------------------- framing


def read_exact(fd: int, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_frame(fd: int):
    head = read_exact(fd, HEADER.size)
    if head is None:
        return None
    (size,) = HEADER.unpack(head)
    if size > MAX_REQUEST:
        raise ValueError(f"request of {size} bytes is over the cap")
    body = read_exact(fd, size)
    if body is None:
        return None
    return json.loads(body)


def write_frame(fd: int, obj) -> None:
    body = json.dumps(obj, ensure_ascii=True).encode()
    data = HEADER.pack(len(body)) + body
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


# ---------------------------------------------------------------- inside the child


def safe_str(obj, limit: int = 300) -> str:
    """str() of something a skill made, which may itself be hostile."""
    try:
        text = str(obj)
        if type(text) is not str:
            raise TypeError
    except BaseException:
        text = f"<unprintable {type(obj).__name__}>"
    return text[:limit]


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, CallTimeout):
        return "timeout: one call ran past its time bound"
    if isinstance(exc, MemoryError):
        return "memory: MemoryError"
    if isinstance(exc, RecursionError):
        return "exception: RecursionError"
    return f"exception: {type(exc).__name__}: {safe_str(exc)}"


def encode_output(kind: str, out):
    """Return (json value, error or None). Only exact built-in types pass: no hostile dunders run."""
    if kind == "classification":
        t = type(out)
        if t is int or t is bool:
            return out, None
        return None, f"type: returned {t.__name__}, not a label"
    if kind == "spans":
        if type(out) is not list:
            return None, f"type: returned {type(out).__name__}, not a list of spans"
        spans = []
        for item in out:
            if type(item) is not tuple and type(item) is not list:
                return None, "type: a span is not a (start, end, label) tuple"
            if len(item) != 3 or type(item[0]) is not int or type(item[1]) is not int or type(item[2]) is not str:
                return None, "type: a span is not (int, int, str)"
            spans.append([item[0], item[1], item[2]])
        return spans, None
    return None, f"type: unknown task kind {kind}"


def make_builtins(allowed_imports: set[str]) -> dict:
    real_import = builtins.__import__

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level != 0 or name.split(".")[0] not in allowed_imports:
            raise ImportError(f"import of {name!r} is not allowed in a skill")
        return real_import(name, globals, locals, fromlist, level)

    def safer_getattr(obj, name, *default):
        if type(name) is str and name.startswith("_"):
            raise AttributeError(f"attribute {name!r} is not allowed in a skill")
        return getattr(obj, name, *default)

    safe = {k: v for k, v in vars(builtins).items() if k not in UNSAFE_BUILTINS}
    safe["__import__"] = guarded_import
    safe["getattr"] = safer_getattr

    def safer_hasattr(obj, name):
        try:
            safer_getattr(obj, name)
        except AttributeError:
            return False
        return True

    safe["hasattr"] = safer_hasattr
    return safe


def on_alarm(signum, frame):
    raise CallTimeout()


def call_bounded(solve, text, call_s: float):
    signal.setitimer(signal.ITIMER_REAL, call_s)
    try:
        return solve(text)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def apply_limits(limits: dict) -> None:
    mem = int(limits["mem_mb"]) * 1024 * 1024
    cpu = int(limits["cpu_s"])
    for res, value in (
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),
        (resource.RLIMIT_AS, (mem, mem)),
        (resource.RLIMIT_FSIZE, (int(limits["file_bytes"]),) * 2),
        (resource.RLIMIT_NOFILE, (int(limits["open_files"]),) * 2),
        (resource.RLIMIT_CORE, (0, 0)),
    ):
        try:
            resource.setrlimit(res, value)
        except (ValueError, OSError):
            pass  # a hard limit already lower than ours is fine


def isolate_fds(keep: int) -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.closerange(3, keep)
    os.closerange(keep + 1, 65536)


def run_properties(solve, req: dict, first_outputs: list) -> dict:
    """Hypothesis properties, run here inside the sandbox: total, label set, deterministic, sensitive."""
    spec = req.get("properties") or {}
    if hypothesis is None:
        return {"available": {"passed": False, "detail": "hypothesis is not installed in the sandbox"}}
    kind = req["kind"]
    labels = req.get("labels") or []
    call_s = float(req["limits"]["call_s"])
    probes = [t for t in spec.get("probe_texts", []) if type(t) is str]
    seen: set[str] = set()
    failures: dict[str, str] = {}

    def check(text: str):
        out, err = None, None
        try:
            out, err = encode_output(kind, call_bounded(solve, text, call_s))
        except BaseException as exc:  # noqa: BLE001 - a skill may raise anything
            err = describe_error(exc)
        if err is not None:
            failures.setdefault("total", f"{err} on input {text[:120]!r}")
            raise AssertionError(err)
        if kind == "classification" and out not in labels:
            failures.setdefault("label_set", f"returned {out!r} on input {text[:120]!r}")
            raise AssertionError("label")
        seen.add(json.dumps(out))
        return out

    words = sorted({w for t in probes for w in t.split()})[:2000] or ["a"]
    strategy = st.one_of(
        st.text(max_size=200),
        st.lists(st.sampled_from(words), max_size=25).map(" ".join),
        st.sampled_from(probes or [""]),
    )
    runs = {
        "edge": ["", " ", "\x00\x01\x02\x7f", "\u202e\ufeff\U0001f600", "a" * 100_000, "\n\t\r" * 50],
    }
    outcome: dict[str, dict] = {}

    def record(name: str, passed: bool, detail: str = "") -> None:
        outcome[name] = {"passed": passed, "detail": detail[:500]}

    # 1. total on edge cases and arbitrary text, with outputs in the label set
    last_bad: list[str] = []
    try:
        for text in runs["edge"]:
            check(text)

        @settings(
            max_examples=int(spec.get("max_examples", 60)),
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )
        @given(strategy)
        def total(text):
            try:
                check(text)
            except AssertionError:
                last_bad[:] = [text]
                raise

        total()
    except BaseException:  # noqa: BLE001
        pass
    if last_bad:  # hypothesis re-runs the shrunk example last
        for key in ("total", "label_set"):
            if key in failures:
                failures[key] = failures[key].split(" on input ")[0] + f" on input {last_bad[0][:120]!r}"
    record("total", "total" not in failures, failures.get("total", ""))
    if kind == "classification":
        record("label_set", "label_set" not in failures, failures.get("label_set", ""))

    # 2. deterministic: the same text twice, and the first texts again in reverse order
    detail = ""
    texts = req["texts"]
    sample = list(range(min(len(texts), int(spec.get("order_sample", 200)))))
    for i in reversed(sample):
        if first_outputs[i] is None:
            continue
        try:
            again, err = encode_output(kind, call_bounded(solve, texts[i], call_s))
        except BaseException as exc:  # noqa: BLE001
            again, err = None, describe_error(exc)
        if err is not None or again != first_outputs[i]:
            detail = f"input {texts[i][:120]!r} gave {first_outputs[i]!r} first and {again!r} when called again in another order"
            break
    record("deterministic", not detail, detail)

    # 3. sensitive to its input: some pair of inputs gives different outputs
    seen.update(json.dumps(o) for o in first_outputs if o is not None)
    record("sensitive", len(seen) > 1, "" if len(seen) > 1 else f"every input gave {next(iter(seen), 'nothing')}")
    return outcome


def child_main(req: dict, out_fd: int) -> None:
    limits = {**DEFAULT_LIMITS, **(req.get("limits") or {})}
    req["limits"] = limits
    isolate_fds(out_fd)
    apply_limits(limits)
    signal.signal(signal.SIGALRM, on_alarm)
    started = time.perf_counter()
    result = {"ok": True, "outputs": None, "errors": {}, "properties": {}, "failure": ""}
    kind = req.get("kind", "classification")
    try:
        namespace = {"__builtins__": make_builtins(set(req.get("allowed_imports") or [])), "__name__": "skill"}
        for name, source in (req.get("libraries") or {}).items():
            namespace[name] = load_library(name, source, namespace["__builtins__"])
        exec(compile(req["code"], "<skill>", "exec"), namespace)
        solve = namespace.get("solve")
        if not callable(solve):
            raise TypeError("the code defines no callable solve(text)")
    except BaseException as exc:  # noqa: BLE001
        result["failure"] = "load: " + describe_error(exc)
        result["ok"] = False
        finish(out_fd, result, started)
        return
    outputs, errors = [], {}
    call_s = float(limits["call_s"])
    timeouts = 0
    for i, text in enumerate(req["texts"]):
        if timeouts >= MAX_CALL_TIMEOUTS:  # a skill this slow is not worth the rest of the split
            outputs.append(None)
            errors[str(i)] = f"timeout: skipped after {MAX_CALL_TIMEOUTS} calls ran past their bound"
            continue
        try:
            out, err = encode_output(kind, call_bounded(solve, text, call_s))
        except BaseException as exc:  # noqa: BLE001
            out, err = None, describe_error(exc)
        outputs.append(out)
        if err is not None:
            errors[str(i)] = err
            timeouts += err.startswith("timeout")
    result["outputs"], result["errors"] = outputs, errors
    if req.get("properties"):
        result["properties"] = run_properties(solve, req, outputs)
    finish(out_fd, result, started)


def load_library(name: str, source: str, safe_builtins: dict):
    """A stored skill another skill may call: its own namespace, the same guards."""
    import types

    module = types.ModuleType(name)
    module.__dict__["__builtins__"] = safe_builtins
    exec(compile(source, f"<skill {name}>", "exec"), module.__dict__)
    return module


def finish(out_fd: int, result: dict, started: float) -> None:
    result["wall_s"] = time.perf_counter() - started
    try:
        body = json.dumps(result, ensure_ascii=True).encode()
    except BaseException as exc:  # noqa: BLE001
        body = json.dumps({"ok": False, "failure": f"result: {describe_error(exc)}"}).encode()
    view = memoryview(body)
    while view:
        view = view[os.write(out_fd, view):]


# ---------------------------------------------------------------- the server


def run_request(req: dict) -> dict:
    limits = {**DEFAULT_LIMITS, **(req.get("limits") or {})}
    cap = int(limits["result_bytes"])
    read_fd, write_fd = os.pipe()
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_fd)
            os.setsid()
            child_main(req, write_fd)
        finally:
            os._exit(0)
    os.close(write_fd)
    deadline = started + float(limits["wall_s"])
    chunks, size, failure = [], 0, ""
    try:
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                failure = f"timeout: the run passed its {limits['wall_s']} s deadline and was killed"
                break
            ready, _, _ = select.select([read_fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(read_fd, 1 << 20)
            if not chunk:
                break
            size += len(chunk)
            if size > cap:
                failure = f"output: the result passed the {cap} byte cap"
                break
            chunks.append(chunk)
    finally:
        os.close(read_fd)
        for kill in (os.killpg, os.kill):  # the child's group (all it left behind), then the child
            try:
                kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        _, status = os.waitpid(pid, 0)
    wall = time.perf_counter() - started
    if failure:
        return {"ok": False, "failure": failure, "wall_s": wall, "timed_out": failure.startswith("timeout")}
    if not chunks:
        return {"ok": False, "failure": f"crash: the child died with no result ({describe_status(status)})", "wall_s": wall}
    try:
        result = json.loads(b"".join(chunks))
    except ValueError:
        return {"ok": False, "failure": "crash: the child's result was not valid JSON", "wall_s": wall}
    if type(result) is not dict:
        return {"ok": False, "failure": "crash: the child's result was not an object", "wall_s": wall}
    result["wall_s"] = wall
    return result


def describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        hint = {signal.SIGKILL: " (memory limit?)", signal.SIGXCPU: " (CPU limit)", signal.SIGSEGV: " (segfault)"}
        return f"killed by signal {sig}{hint.get(sig, '')}"
    return f"exit status {os.WEXITSTATUS(status)}"


def warm_up() -> None:
    """Run one tiny property test here, so children inherit hypothesis's caches instead of building them."""
    if hypothesis is None:
        return

    @settings(max_examples=5, database=None, derandomize=True, deadline=None)
    @given(st.text(max_size=5))
    def tiny(text):
        pass

    tiny()


def serve() -> None:
    warm_up()
    channel_in, channel_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)  # a stray print in the harness itself cannot corrupt the channel
    write_frame(channel_out, {"ready": True, "python": sys.version.split()[0],
                              "hypothesis": getattr(hypothesis, "__version__", None)})
    while True:
        try:
            req = read_frame(channel_in)
        except ValueError as exc:
            write_frame(channel_out, {"ok": False, "failure": f"protocol: {exc}"})
            return
        if req is None:
            return
        if req.get("op") == "ping":
            write_frame(channel_out, {"ok": True, "pong": True})
            continue
        write_frame(channel_out, run_request(req))


if __name__ == "__main__":
    if sys.argv[1:] == ["warm"]:  # at image build time: fill hypothesis's caches
        warm_up()
    elif sys.argv[1:] == ["serve"]:
        serve()
    else:
        sys.stderr.write("usage: harness.py serve|warm\n")
        sys.exit(2)
