"""The sandbox harness: a fork server that runs untrusted skills, one fresh child per request.

It runs inside the sandbox (a Docker container, or a subprocess for the local backend),
with the standard library and hypothesis only: it must not import anything from skillkiln.

Protocol on stdin/stdout: frames of a 4-byte big-endian length and UTF-8 JSON.
  host -> harness: {"op": "run", "id", "code", "texts", "kind", "labels", "limits", "properties",
                    "allowed_imports", "libraries"} or {"op": "ping"}
  harness -> host: {"ok": true, "id", "outputs": [...], "errors": {"i": "kind: message"},
                    "properties": {...}, "wall_s": float, "failure": ""}
Labels never come in: the harness returns raw outputs, the host scores them. The answer
echoes the request's id, so the host notices an answer that is not to its question.

Each request forks a child that makes itself a session leader, points fds 0-2 at
/dev/null (so nothing a skill prints can reach the channel), applies rlimits, runs the
skill under a per-call clock and writes one length-prefixed JSON result to a pipe. The
parent reads exactly that frame with a size cap and a wall-clock deadline, kills the
child's whole process group once the answer is sent, and rebuilds the answer from the
frame field by field (so nothing a skill forges reaches the host but predictions). Before
the next child is forked (or 50 ms after the answer, if no request follows), it reaps the
child and, when it is the init of its PID namespace (in a container, or under `unshare -p`),
kills every process left in the namespace, whatever session it fled to, and wipes the
scratch directories it was given: the next request starts from a pristine state. The
parent never runs skill code and is not dumpable: a child cannot read its memory or reopen
its channel.

Inside the child a skill gets guarded builtins: imports only from the allow-list (as
read-only copies of the modules without their submodules), no open/eval/exec/compile,
no `_` or frame/code attributes (checked on the syntax tree and in getattr). The request
flag "trusted_builtins" (tests only: the adversarial suite's "container alone" mode)
gives full builtins and imports, so that what stops a skill is the container itself.
"""
from __future__ import annotations

import ast
import builtins
import gc
import json
import os
import resource
import select
import signal
import stat
import struct
import sys
import time
import types

SITE = "/opt/skillkiln/site"  # pure-Python wheels unpacked into the image
if os.path.isdir(SITE) and SITE not in sys.path:
    sys.path.insert(0, SITE)

# Imported once here so that every forked child gets them for free.
import collections  # noqa: E402,F401
import collections.abc  # noqa: E402,F401
import functools  # noqa: E402,F401
import itertools  # noqa: E402,F401
import math  # noqa: E402,F401
import re  # noqa: E402,F401
import string  # noqa: E402,F401
import unicodedata  # noqa: E402,F401

hypothesis = None  # imported by load_hypothesis(), after the ready frame

HEADER = struct.Struct(">I")
MAX_CALL_TIMEOUTS = 3
MAX_REQUEST = 256 * 1024 * 1024
SMALL_REQUEST = 64 * 1024  # parsed before the fork; a bigger one after it, alongside the child's own parse
SETTLE_IDLE_S = 0.05  # a spent child is settled at the next request, or after this long without one
SWEEP_S = 3.0  # how long the init may take to clear the namespace before it gives up (and exits)
DEFAULT_LIMITS = {
    "wall_s": 60.0,  # whole request
    "cpu_s": 60,
    "mem_mb": 512,
    "call_s": 2.0,  # one call of solve()
    "load_s": 10.0,  # running the skill's module body (imports, tables, compiled patterns)
    "result_bytes": 32 * 1024 * 1024,
    "file_bytes": 1024 * 1024,
    "open_files": 64,
}
UNSAFE_BUILTINS = {
    "open", "exec", "eval", "compile", "input", "breakpoint", "globals", "locals", "vars",
    "help", "exit", "quit", "copyright", "credits", "license", "memoryview",
    "setattr", "delattr",
}
# Attributes that reach frames, code and tracebacks without a leading underscore
# (RestrictedPython's INSPECT_ATTRIBUTES), refused like `_` attributes.
FRAME_ATTRIBUTES = frozenset({
    "tb_frame", "tb_next", "f_back", "f_builtins", "f_code", "f_generator", "f_globals", "f_locals",
    "f_trace", "co_code", "gi_frame", "gi_code", "gi_yieldfrom", "cr_await", "cr_frame", "cr_code",
    "cr_origin", "ag_await", "ag_frame", "ag_code",
})
# Public module attributes that hand out arbitrary attribute lookups (string.Formatter's
# get_field walks "0.__class__.__mro__" with the real getattr): left out of the copies.
# functools.update_wrapper/wraps copy attributes named by the caller, singledispatch evaluates
# string annotations (typing.get_type_hints): both are a real getattr/eval in disguise.
HIDDEN_MODULE_ATTRIBUTES = {
    "string": {"Formatter"},
    "functools": {"update_wrapper", "wraps", "singledispatch", "singledispatchmethod"},
}
TIMEOUT_MESSAGE = "timeout: one call ran past its time bound"


class CallTimeout(Exception):
    """Raised inside a skill when one call of solve() runs past its bound."""


class Forbidden(Exception):
    """The skill's source uses an attribute the in-sandbox guard refuses."""


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


def read_body(fd: int) -> bytes | None:
    """One frame's body, unparsed; None at the end of the channel."""
    head = read_exact(fd, HEADER.size)
    if head is None:
        return None
    (size,) = HEADER.unpack(head)
    if size > MAX_REQUEST:
        raise ValueError(f"request of {size} bytes is over the cap")
    return read_exact(fd, size)


def read_frame(fd: int):
    body = read_body(fd)
    return None if body is None else json.loads(body)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def write_frame(fd: int, obj) -> None:
    body = json.dumps(obj, ensure_ascii=True).encode()
    write_all(fd, HEADER.pack(len(body)) + body)


# ---------------------------------------------------------------- inside the child: the clock


class Clock:
    """One periodic SIGALRM for the whole child; a call past its bound gets CallTimeout.

    Cheaper than arming a timer around every call (two syscalls each): a call only stores
    its start time. A call is stopped within limit + tick (an eighth of the limit, at most
    0.25 s) of its start."""

    limit = 2.0
    started = 0.0  # perf_counter() at the start of the timed section, 0.0 outside one

    @classmethod
    def start(cls, limit: float) -> None:
        cls.limit = limit
        tick = min(max(limit / 8, 0.005), 0.25)
        signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, tick, tick)

    @classmethod
    def stop(cls) -> None:
        cls.started = 0.0
        signal.setitimer(signal.ITIMER_REAL, 0)


def on_alarm(signum, frame):
    started = Clock.started
    if started and time.perf_counter() - started >= Clock.limit:
        raise CallTimeout()


# ---------------------------------------------------------------- inside the child: results

_type_name = type.__dict__["__name__"].__get__  # the real name, whatever a metaclass claims


def type_name(obj) -> str:
    try:
        name = _type_name(type(obj))
        return name if type(name) is str else "?"
    except BaseException:  # noqa: BLE001
        return "?"


def clean_text(text: str) -> str:
    """Text that encodes as UTF-8 (lone surrogates become escapes), for JSON and the host's store."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def safe_str(obj, limit: int = 300) -> str:
    """str() of something a skill made, which may itself be hostile (call it under the clock)."""
    try:
        text = str(obj)
        if type(text) is not str:
            raise TypeError
    except CallTimeout:
        raise
    except BaseException:  # noqa: BLE001
        text = f"<unprintable {type_name(obj)}>"
    return clean_text(text[:limit])


def describe_error(exc: BaseException) -> str:
    if type(exc) is CallTimeout:
        return TIMEOUT_MESSAGE
    if isinstance(exc, MemoryError):
        return "memory: MemoryError"
    if isinstance(exc, RecursionError):
        return "exception: RecursionError"
    return f"exception: {type_name(exc)}: {safe_str(exc)}"


def encode_output(kind: str, out):
    """Return (json value, error or None). Only exact built-in types pass: no hostile dunders run."""
    if kind == "classification":
        t = type(out)
        if t is int or t is bool:
            return out, None
        return None, f"type: returned {type_name(out)}, not a label"
    if kind == "spans":
        if type(out) is not list:
            return None, f"type: returned {type_name(out)}, not a list of spans"
        spans = []
        for item in out:
            if type(item) is not tuple and type(item) is not list:
                return None, "type: a span is not a (start, end, label) tuple"
            if len(item) != 3 or type(item[0]) is not int or type(item[1]) is not int or type(item[2]) is not str:
                return None, "type: a span is not (int, int, str)"
            if not valid_unicode(item[2]):
                return None, "type: a span label is not valid unicode (a lone surrogate)"
            spans.append([item[0], item[1], item[2]])
        return spans, None
    return None, f"type: unknown task kind {kind}"


def valid_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def call_one(solve, text, kind: str):
    """One timed call: (output, error). Whatever the skill's objects do (a hostile __str__ on an
    exception, a __del__) runs under the clock too."""
    Clock.started = time.perf_counter()
    try:
        try:
            out = solve(text)
            t = type(out)
            if kind == "classification" and (t is int or t is bool):
                return out, None
            value = encode_output(kind, out)
            del out
            return value
        except CallTimeout:
            return None, TIMEOUT_MESSAGE
        except BaseException as exc:  # noqa: BLE001 - a skill may raise anything
            return None, describe_error(exc)
    except CallTimeout:  # the clock ran out while describing a hostile exception
        return None, TIMEOUT_MESSAGE
    finally:
        Clock.started = 0.0


def run_texts(solve, texts: list, kind: str) -> tuple[list, dict]:
    """solve() over every text, each call under the clock: (outputs, errors by index).

    The same contract as call_one() per text, with the common case inlined (a classification
    skill returning an exact int or bool costs one clock store before and after the call, no
    extra function call): on a split of thousands of texts the harness's own share stays small.
    The clock only raises while Clock.started is set, so an interruption can only land inside
    the timed part, before text i's output is stored, and is then text i's error."""
    outputs: list = []
    errors: dict[str, str] = {}
    fast = kind == "classification"
    perf = time.perf_counter
    clock = Clock
    timeouts = 0
    n = len(texts)
    i = 0
    while i < n:
        try:
            while i < n:
                if timeouts >= MAX_CALL_TIMEOUTS:  # a skill this slow is not worth the rest of the split
                    outputs.append(None)
                    errors[str(i)] = f"timeout: skipped after {MAX_CALL_TIMEOUTS} calls ran past their bound"
                    i += 1
                    continue
                clock.started = perf()
                out = solve(texts[i])
                t = type(out)
                if fast and (t is int or t is bool):
                    clock.started = 0.0
                    outputs.append(out)
                    i += 1
                    continue
                value, err = encode_output(kind, out)
                del out  # a hostile __del__ runs here, under the clock
                clock.started = 0.0
                outputs.append(value)
                if err is not None:
                    errors[str(i)] = err
                i += 1
        except BaseException as exc:  # noqa: BLE001 - the skill raised, or the clock ran out: text i failed
            try:
                err = TIMEOUT_MESSAGE if type(exc) is CallTimeout else describe_error(exc)
                del exc  # its traceback holds the skill's frames: their objects go here, under the clock
            except CallTimeout:  # the clock ran out while describing a hostile exception
                err = TIMEOUT_MESSAGE
            clock.started = 0.0
            outputs.append(None)
            errors[str(i)] = err
            timeouts += err.startswith("timeout")
            i += 1
    return outputs, errors


# ---------------------------------------------------------------- inside the child: guards


def check_tree(tree: ast.AST) -> None:
    """Refuse `_` attributes and frame/code attributes: the static gate's rule, again in here."""
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Attribute):
            names = [node.attr]
        elif isinstance(node, ast.MatchClass):  # `case object(__class__=c)` is an attribute lookup
            names = list(node.kwd_attrs)
        for name in names:
            if name.startswith("_") or name in FRAME_ATTRIBUTES:
                raise Forbidden(f"attribute {name!r} is not allowed in a skill (line {getattr(node, 'lineno', '?')})")


def module_copy(module, root: str):
    """A read-only-ish copy of an allowed module: its public attributes, but no modules other than
    its own submodules (re.enum.sys.modules['os'] must not work) and nothing in HIDDEN."""
    name = module.__name__
    copy = types.ModuleType(name)
    hidden = HIDDEN_MODULE_ATTRIBUTES.get(name, ())
    for key, value in list(vars(module).items()):
        if key.startswith("_") or key in hidden:
            continue
        if isinstance(value, types.ModuleType):
            if not value.__name__.startswith(root + "."):
                continue
            value = module_copy(value, root)
        copy.__dict__[key] = value
    return copy


SAFE_BUILTINS = {k: v for k, v in vars(builtins).items() if k not in UNSAFE_BUILTINS}  # once, in the parent


def make_builtins(allowed_imports: set[str], packages: dict | None = None) -> dict:
    """Guarded builtins. `packages` maps a name (`skills`) to a module the host sent, filled in later."""
    real_import = builtins.__import__
    packages = packages if packages is not None else {}
    copies: dict[str, tuple[int, types.ModuleType]] = {}

    def copy_of(module):
        name = module.__name__
        size = len(vars(module))
        cached = copies.get(name)
        if cached is None or cached[0] != size:
            cached = copies[name] = (size, module_copy(module, name.split(".")[0]))
        return cached[1]

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        if type(name) is str and level == 0 and name.split(".")[0] in packages:
            return packages[name.split(".")[0]]  # `from skills import NAME`: stored skills the host sent
        if type(name) is not str or level != 0 or name.split(".")[0] not in allowed_imports:
            raise ImportError(f"import of {name!r} is not allowed in a skill")
        module = real_import(name, None, None, fromlist, 0)
        if not fromlist and "." in name:  # `import collections.abc` binds `collections`
            return copy_of(sys.modules[name.split(".")[0]])
        return copy_of(module)

    def safer_getattr(obj, name, *default):
        if type(name) is str and (name.startswith("_") or name in FRAME_ATTRIBUTES):
            raise AttributeError(f"attribute {name!r} is not allowed in a skill")
        return getattr(obj, name, *default)

    safe = dict(SAFE_BUILTINS)
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
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    kind = req["kind"]
    labels = req.get("labels") or []
    probes = [t for t in spec.get("probe_texts", []) if type(t) is str]
    seen: set[str] = set()
    failures: dict[str, str] = {}

    def check(text: str):
        out, err = call_one(solve, text, kind)
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
        outcome[name] = {"passed": passed, "detail": clean_text(detail[:500])}

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
        again, err = call_one(solve, texts[i], kind)
        if err is not None or again != first_outputs[i]:
            detail = f"input {texts[i][:120]!r} gave {first_outputs[i]!r} first and {again!r} when called again in another order"
            break
    record("deterministic", not detail, detail)

    # 3. sensitive to its input: some pair of inputs gives different outputs
    seen.update(json.dumps(o) for o in first_outputs if o is not None)
    record("sensitive", len(seen) > 1, "" if len(seen) > 1 else f"every input gave {next(iter(seen), 'nothing')}")
    return outcome


def load_skill(req: dict, limits: dict):
    """The skill's solve(), its module body run under the load clock; raises on any failure."""
    trusted = req.get("trusted_builtins") is True
    sources = [(name, source) for name, source in (req.get("libraries") or {}).items()]
    trees = {}
    for name, source in sources + [("", req["code"])]:
        tree = ast.parse(source, f"<skill {name}>" if name else "<skill>")
        if not trusted:
            check_tree(tree)
        trees[name] = tree
    if trusted:  # tests only: full builtins and imports, the container is the only wall
        namespace = {"__name__": "skill"}
        guarded = None
    else:
        packages: dict = {}
        guarded = make_builtins(set(req.get("allowed_imports") or []), packages)
        namespace = {"__builtins__": guarded, "__name__": "skill"}
    Clock.start(float(limits["load_s"]))
    Clock.started = time.perf_counter()
    try:
        for name, _ in sources:
            module = types.ModuleType(name)
            if guarded is not None:
                module.__dict__["__builtins__"] = guarded
            exec(compile(trees[name], f"<skill {name}>", "exec"), module.__dict__)
            namespace[name] = module
            if guarded is not None:  # a library may itself use the ones loaded before it
                package = packages.setdefault("skills", types.ModuleType("skills"))
                setattr(package, name, module)
        exec(compile(trees[""], "<skill>", "exec"), namespace)
    finally:
        Clock.started = 0.0
    solve = namespace.get("solve")
    if not callable(solve):
        raise TypeError("the code defines no callable solve(text)")
    return solve


def child_main(req: dict, out_fd: int) -> None:
    limits = {**DEFAULT_LIMITS, **(req.get("limits") or {})}
    req["limits"] = limits
    isolate_fds(out_fd)
    apply_limits(limits)
    started = time.perf_counter()
    result = {"ok": True, "outputs": None, "errors": {}, "properties": {}, "failure": ""}
    kind = req.get("kind", "classification")
    try:
        try:
            solve = load_skill(req, limits)
        except CallTimeout:
            raise
        except Forbidden as exc:
            result["failure"] = f"load: forbidden: {exc}"
        except BaseException as exc:  # noqa: BLE001
            Clock.started = time.perf_counter()  # describing a hostile exception runs under the clock
            result["failure"] = "load: " + describe_error(exc)
            Clock.started = 0.0
    except CallTimeout:
        result["failure"] = f"load: timeout: the module body ran past its {limits['load_s']} s bound"
    if result["failure"]:
        Clock.stop()
        result["ok"] = False
        finish(out_fd, result, started)
        return
    Clock.start(float(limits["call_s"]))
    outputs, errors = run_texts(solve, req["texts"], kind)
    result["outputs"], result["errors"] = outputs, errors
    if req.get("properties"):
        try:
            result["properties"] = run_properties(solve, req, outputs)
        except CallTimeout:
            result["properties"] = {"total": {"passed": False, "detail": TIMEOUT_MESSAGE}}
    Clock.stop()
    finish(out_fd, result, started)


def finish(out_fd: int, result: dict, started: float) -> None:
    result["wall_s"] = time.perf_counter() - started
    try:
        body = json.dumps(result, ensure_ascii=True).encode()
    except BaseException as exc:  # noqa: BLE001
        body = json.dumps({"ok": False, "failure": f"result: {describe_error(exc)}"}).encode()
    write_all(out_fd, HEADER.pack(len(body)) + body)


# ---------------------------------------------------------------- the server: reading a child


def read_child(fd: int, deadline: float, cap: int) -> tuple[bytes | None, str]:
    """The child's one frame: (body, "") or (None, failure). Stops at the frame's end, so
    whatever the child left running cannot hold the answer back by keeping the pipe open."""
    data = bytearray()
    need = HEADER.size
    header_done = False
    while True:
        while len(data) < need:
            left = deadline - time.perf_counter()
            if left <= 0:
                return None, "deadline"
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, min(need - len(data), 1 << 20))
            if not chunk:
                return None, "eof" if not header_done else "cut"
            data += chunk
        if header_done:
            return bytes(data[HEADER.size:]), ""
        (size,) = HEADER.unpack(data[:HEADER.size])
        if size > cap:
            return None, "cap"
        need += size
        header_done = True


def clean_result(raw, n_texts: int, kind: str) -> dict:
    """The child's answer rebuilt field by field: only known keys, exact types, clean text."""
    if type(raw) is not dict:
        return {"ok": False, "failure": "crash: the child's result was not an object"}
    failure = raw.get("failure")
    failure = clean_text(failure[:2000]) if type(failure) is str else ""
    if raw.get("ok") is not True:
        return {"ok": False, "failure": failure or "crash: the child reported a failure with no reason"}
    outputs = raw.get("outputs")
    if type(outputs) is not list or len(outputs) != n_texts:
        got = len(outputs) if type(outputs) is list else type(outputs).__name__
        return {"ok": False, "failure": f"crash: the child's result held {got} outputs for {n_texts} texts"}
    errors: dict[str, str] = {}
    raw_errors = raw.get("errors")
    if type(raw_errors) is dict:
        for key, msg in raw_errors.items():
            if type(key) is str and key.isdigit() and int(key) < n_texts and type(msg) is str:
                errors[key] = clean_text(msg[:1000])
    clean_outputs = []
    for i, out in enumerate(outputs):
        t = type(out)
        if out is None or t is int or t is bool:
            clean_outputs.append(out)
            continue
        if kind == "spans" and t is list and all(
            type(s) is list and len(s) == 3 and type(s[0]) is int and type(s[1]) is int
            and type(s[2]) is str and valid_unicode(s[2]) for s in out
        ):
            clean_outputs.append(out)
            continue
        clean_outputs.append(None)
        errors.setdefault(str(i), "type: the child's result held an output that is not a label")
    properties: dict[str, dict] = {}
    raw_props = raw.get("properties")
    if type(raw_props) is dict:
        for name, outcome in raw_props.items():
            if type(name) is str and type(outcome) is dict and type(outcome.get("passed")) is bool:
                detail = outcome.get("detail")
                properties[clean_text(name[:100])] = {
                    "passed": outcome["passed"],
                    "detail": clean_text(detail[:500]) if type(detail) is str else "",
                }
    return {"ok": True, "outputs": clean_outputs, "errors": errors, "properties": properties, "failure": failure}


# ---------------------------------------------------------------- the server


class Spent:
    """A child whose answer is in. kill() stops it and all it left in its process group at once;
    settle() waits for it and, as init, kills and reaps every other process in the namespace and
    wipes the scratch directories. After an ok answer the harness settles just before forking the
    next child, so the child's exit overlaps the host's next request; otherwise at once."""

    def __init__(self, server: "Server", pid: int):
        self.server = server
        self.pid = pid
        self.killed = False
        self.status: int | None = None

    def kill(self) -> None:
        if not self.killed:
            self.killed = True
            for kill in (os.killpg, os.kill):  # the child's group (all it left behind), then the child
                try:
                    kill(self.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass

    def settle(self) -> int:
        if self.status is None:
            self.kill()
            self.status = os.waitpid(self.pid, 0)[1]
            if self.server.init:
                self.server.healthy = sweep(self.server.scratch) and self.server.healthy
        return self.status


class Server:
    def __init__(self, scratch: list[str]):
        self.scratch = scratch
        self.init = os.getpid() == 1  # the init of a PID namespace: everything else in it is a skill's
        self.healthy = True

    def run_request(self, req: dict | None, body: bytes) -> tuple[dict, "Spent"]:
        """Run one request in a fresh child: (answer, the spent child). The answer goes to the host
        first; then the child's group is killed, and it is reaped (and as init the namespace
        cleared) before the next child is forked: see Spent. A big request (req None)
        is parsed after the fork, by the parent and the child side by side: the fork does not copy
        its parsed texts, and neither waits for the other's parse."""
        read_fd, write_fd = os.pipe()
        started = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(read_fd)
                os.setsid()
                child_main(req if req is not None else json.loads(body), write_fd)
            finally:
                os._exit(0)
        os.close(write_fd)
        spent = Spent(self, pid)

        if req is None:
            try:
                req = json.loads(body)
                if type(req) is not dict:
                    raise ValueError("a request is an object")
            except (ValueError, RecursionError) as exc:
                os.close(read_fd)
                spent.settle()
                return {"ok": False, "failure": f"protocol: {str(exc)[:200]}"}, spent
        limits = {**DEFAULT_LIMITS, **(req.get("limits") or {})}
        cap = int(limits["result_bytes"])
        texts = req.get("texts")
        n_texts = len(texts) if type(texts) is list else 0
        request_id = req.get("id")

        def answer(reply: dict) -> tuple[dict, Spent]:
            reply["id"] = request_id  # echoed, so the host can tell it answers its question
            return reply, spent

        try:
            body, why = read_child(read_fd, started + float(limits["wall_s"]), cap)
        finally:
            os.close(read_fd)
        wall = time.perf_counter() - started

        if why == "deadline":
            failure = f"timeout: the run passed its {limits['wall_s']} s deadline and was killed"
            return answer({"ok": False, "failure": failure, "wall_s": wall, "timed_out": True})
        if why == "cap":
            return answer({"ok": False, "failure": f"output: the result passed the {cap} byte cap", "wall_s": wall})
        if why in ("eof", "cut"):  # the child is gone (or going): its exit status says why
            status = spent.settle()
            said = "the child died with no result" if why == "eof" else "the child's result was cut short"
            return answer({"ok": False, "failure": f"crash: {said} ({describe_status(status)})", "wall_s": wall})
        try:
            raw = json.loads(body)
        except (ValueError, RecursionError, MemoryError):
            return answer({"ok": False, "failure": "crash: the child's result was not valid JSON", "wall_s": wall})
        result = clean_result(raw, n_texts, str(req.get("kind", "classification")))
        result["wall_s"] = wall
        return answer(result)

    def serve(self) -> None:
        channel_in, channel_out = os.dup(0), os.dup(1)
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)  # a stray print in the harness itself cannot corrupt the channel
        not_dumpable()
        write_frame(channel_out, {"ready": True, "python": sys.version.split()[0], "init": self.init})
        load_hypothesis()  # while the host gets its first request ready
        gc.freeze()  # children's collectors leave what is here now alone: fewer copy-on-write faults
        pending: Spent | None = None  # the last child, killed but not yet reaped
        try:
            while self.healthy:
                if pending is not None and not select.select([channel_in], [], [], SETTLE_IDLE_S)[0]:
                    pending.settle()  # no request right behind: settle now, so nothing it left runs on
                    pending = None
                    if not self.healthy:
                        return
                try:
                    body = read_body(channel_in)
                except ValueError as exc:
                    write_frame(channel_out, {"ok": False, "failure": f"protocol: {exc}"})
                    return
                if body is None:
                    return
                req = None
                if len(body) <= SMALL_REQUEST:
                    try:
                        req = json.loads(body)
                    except (ValueError, RecursionError):
                        write_frame(channel_out, {"ok": False, "failure": "protocol: a request is not JSON"})
                        continue
                    if type(req) is not dict:
                        write_frame(channel_out, {"ok": False, "failure": "protocol: a request is an object"})
                        continue
                    if req.get("op") == "ping":
                        write_frame(channel_out, {"ok": True, "pong": True, "id": req.get("id"),
                                                  "hypothesis": getattr(hypothesis, "__version__", None)})
                        continue
                if pending is not None:  # nothing of the last request may run beside the next one
                    pending.settle()
                    pending = None
                    if not self.healthy:
                        return  # the host sees the channel close and starts a fresh worker
                answer, spent = self.run_request(req, body)
                del body, req  # not held (and copied into the next child) while idle
                try:
                    write_frame(channel_out, answer)
                finally:
                    spent.kill()
                    if answer.get("ok") is True:
                        pending = spent  # reaped while the next request is on its way
                    else:
                        spent.settle()
        finally:
            if pending is not None:
                pending.settle()
        # not healthy: something a skill left could not be cleared; exit, and the host starts a fresh one


def sweep(scratch: list[str]) -> bool:
    """As the namespace's init: SIGKILL every other process (kill(-1) reaches no one outside the
    namespace), reap them, and wipe the scratch directories. False if it could not."""
    end = time.monotonic() + SWEEP_S
    while True:
        reap()
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:  # no process left but this one
            break
        except PermissionError:
            return False
        if time.monotonic() > end:
            return False
        time.sleep(0.001)
    ok = True
    for path in scratch:
        ok = wipe(path) and ok
    return ok


def reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def wipe(path: str) -> bool:
    """Empty a scratch directory (not the directory itself); True if it is empty afterwards."""
    try:
        entries = os.listdir(path)
    except OSError:
        return True  # nothing there to wipe
    for name in entries:
        remove_tree(os.path.join(path, name))
    try:
        return not os.listdir(path)
    except OSError:
        return False


def remove_tree(path: str) -> None:
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return
    if stat.S_ISDIR(mode):
        try:
            os.chmod(path, 0o700)  # a skill may have made it unreadable
            names = os.listdir(path)
        except OSError:
            names = []
        for name in names:
            remove_tree(os.path.join(path, name))
        try:
            os.rmdir(path)
        except OSError:
            pass
    else:
        try:
            os.unlink(path)
        except OSError:
            pass


def not_dumpable() -> None:
    """PR_SET_DUMPABLE 0: processes of the same user (a skill's) cannot ptrace this one or open
    its /proc files (environ, mem, fd/*: the channel). Inherited by every child it forks."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except (ImportError, OSError, AttributeError):
        pass


def describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        hint = {signal.SIGKILL: " (memory limit?)", signal.SIGXCPU: " (CPU limit)", signal.SIGSEGV: " (segfault)"}
        return f"killed by signal {sig}{hint.get(sig, '')}"
    return f"exit status {os.WEXITSTATUS(status)}"


def load_hypothesis() -> None:
    """Import hypothesis and run one tiny property test, so children inherit its caches instead
    of building them."""
    global hypothesis
    try:
        import hypothesis as imported
        from hypothesis import given, settings
        from hypothesis import strategies as st
    except ImportError:  # the host checks for it; a harness without it reports properties as unavailable
        return
    hypothesis = imported

    @settings(max_examples=5, database=None, derandomize=True, deadline=None)
    @given(st.text(max_size=5))
    def tiny(text):
        pass

    tiny()


def main(argv: list[str]) -> int:
    if argv == ["warm"]:  # at image build time: fill hypothesis's caches
        load_hypothesis()
        return 0
    if argv[:1] == ["serve"]:
        scratch, rest = [], argv[1:]
        while rest[:1] == ["--scratch"] and len(rest) >= 2:
            scratch.append(rest[1])
            rest = rest[2:]
        if not rest:
            Server(scratch).serve()
            return 0
    sys.stderr.write("usage: harness.py warm | serve [--scratch DIR]...\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
