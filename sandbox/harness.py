"""The sandbox harness: a fork server that runs untrusted skills, one fresh child per request.

It runs inside the sandbox (a Docker container, or a subprocess for the local backend),
with the standard library and hypothesis only: it must not import anything from skillkiln.

Protocol on stdin/stdout: frames of a 4-byte big-endian length and UTF-8 JSON.
  host -> harness: a head {"op": "run", "id", "kind", "n", "limits", "texts_key", "texts_sent"}
                   and then a second frame, the request itself {"op": "run", "code", "texts",
                   "texts_key", "kind", "labels", "limits", "properties", "allowed_imports",
                   "libraries"}; or one head {"op": "ping", "id"}
  harness -> host: {"ok": true, "id", "outputs": [...], "errors": {"i": "kind: message"},
                    "properties": {...}, "wall_s": float, "failure": "", "texts_held": [keys]}
Labels never come in: the harness returns raw outputs, the host scores them. The answer
echoes the request's id, so the host notices an answer that is not to its question. The
server reads only the small head; the request goes to the child unparsed. The server keeps
the last few text lists it was sent (many texts, under a key the host gives): a request
whose texts it holds comes with texts null ("texts_sent": false), and its child finds them
in the memory it was forked with; "texts_held" tells the host what it holds.

The server keeps one spare child forked ahead of time, idle on a pipe: a request costs no
fork. The spare makes itself a session leader and points fds 0-2 at /dev/null (so nothing a
skill prints can reach the channel) before it is handed anything; it reads its request from
its pipe, applies rlimits, runs the skill under the clock and writes its result, two
length-prefixed frames (the result without outputs, then the outputs' JSON), to a second
pipe. The server reads exactly those frames with a size cap and a wall-clock deadline,
checks them (the outputs' JSON passes to the host byte for byte only when it is exact
labels; anything else is rebuilt field by field, so nothing a skill forges reaches the host
but predictions) and answers. Then (Server.recycle) it kills the child's whole process group
and, when it is the init of its PID namespace (in a container, or under `unshare -p`), every
process left in the namespace, whatever session it fled to. Before the next spare gets a
request (Server.ready) the doomed are reaped and the scratch directories wiped, so every
request starts from a pristine state. In a container the next spare is forked while a request
runs (with no reference to that request's body) and is used only if, once the skill's
processes are reaped, it is still alive with no signal pending; otherwise it is forked only
once everything is doomed. Elsewhere it is forked once the namespace is clear. The server
never runs skill code and is not dumpable: a child cannot read its memory or reopen its
channel.

Inside the child a skill gets guarded builtins: imports only from the allow-list (as
read-only copies of the modules without their submodules), no open/eval/exec/compile,
no `_` or frame/code attributes (checked on the syntax tree and in getattr). The server as it
starts, and each child before its skill loads, hold blocks of random number and size
(scatter_memory), so the addresses a skill can read differ from worker to worker and from
request to request, as they differ outside. The request
flag "trusted_builtins" (tests only: the adversarial suite's "container alone" mode)
gives full builtins and imports, so that what stops a skill is the container itself.
"""
from __future__ import annotations

import ast
import builtins
import fcntl
import gc
import importlib.util
import itertools
import json
import os
import random
import resource
import select
import signal
import stat
import struct
import sys
import time
import types
import weakref

SITE = "/opt/skillkiln/site"  # pure-Python wheels unpacked into the image
if os.path.isdir(SITE) and SITE not in sys.path:
    sys.path.insert(0, SITE)

# Imported once here so that every forked child gets them for free.
import collections  # noqa: E402,F401
import collections.abc  # noqa: E402,F401
import functools  # noqa: E402,F401
import math  # noqa: E402,F401
import re  # noqa: E402,F401
import string  # noqa: E402,F401
import unicodedata  # noqa: E402,F401

hypothesis = None  # imported by load_hypothesis(), after the ready frame

HEADER = struct.Struct(">I")
MAX_CALL_TIMEOUTS = 3
MAX_REQUEST = 256 * 1024 * 1024
MAX_HEAD = 64 * 1024  # a request's head (op, id, kind, n, limits): the only part the server parses
PIPE_BYTES = 1 << 20  # the request pipe's size, so a big request goes to the spare in one write
LINGER_S = 1.0  # how long a child that has written its result waits to be killed before it exits
MAX_HELD = 4  # text lists the server keeps, most recently used first out last
MAX_HELD_BYTES = 32 * 1024 * 1024  # a request bigger than this does not leave its texts behind
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
# str.format and format_map look up the attributes and items a template names ("{0.__globals__}")
# with the real getattr, out of the guards' sight: refused like `_` attributes (use f-strings).
FORMAT_ATTRIBUTES = frozenset({"format", "format_map"})
# ABCMeta.register changes what isinstance() says of a class the whole interpreter shares (Mapping.register(str)):
# in an export, the program that imports it too (export audit). type.mro(type)[1] is the real type, whose calls
# no guard sees, and X.mro() hands out every metaclass and base class (third export audit)
SHARED_STATE_ATTRIBUTES = frozenset({"register", "mro"})
# Every attribute store or deletion in a skill goes through this builtin (load_code), which lets a skill change
# only what it made itself; a skill may not name it
WRITE_GUARD = "__skillkiln_write__"
# Hooks of class creation and of isinstance: a skill's subclass of a standard-library ABC with its own
# __subclasshook__ made str a Mapping for the whole interpreter, and a metaclass's __prepare__ fills a class
# body's namespace (a second export audit). Refused wherever a skill names one: a def, a name, a keyword or a
# string (check_tree), and as a key of any class the skill makes by calling type or a metaclass (make_type_guard),
# which is where a name built at run time (`'__sub' + 'classhook__'`) would get in
CLASS_HOOKS = frozenset({"__subclasshook__", "__prepare__", "__instancecheck__", "__subclasscheck__",
                         "__init_subclass__", "__set_name__", "__mro_entries__", "__class_getitem__",
                         "__subclasses__", "__class__", "__getattribute__", "__new__"})
# (__subclasses__: an ABC walks its subclasses' own, a fifth round. __class__, and __getattribute__ that can answer
# for it: isinstance() reads it, so a plain object passed for a str to re.escape, which handed it re's own table,
# and to re's template cache and RegexFlag as a str or an int, a sixth round. __new__: a skill's own could only
# hand back an object it did not make (object.__new__ is out of reach), and GenericAlias's call, which subscripting
# a list subclass reaches, then set __orig_class__ on it, a library class: an eighth round)


def refused_attribute(name: str) -> bool:
    """A `_` name, a frame/code attribute, str.format or ABCMeta.register: never looked up by a skill."""
    return name.startswith("_") or name in FRAME_ATTRIBUTES or name in FORMAT_ATTRIBUTES or name in SHARED_STATE_ATTRIBUTES


# A skill's metaclass, or its subclass of a value type, may define no special method (a name with two leading and
# trailing underscores) but OWN_NAMES and no other attribute its type has (kind_attribute), nor inherit from a
# library class outside its type's own chain (refuse_foreign_bases); this is checked before the class is made
# (check_class_plan) as well as after (check_made_class), and attributes set later go through the write guard.
# Code of the standard library reads values and classes through those methods, also where it keeps them in caches
# and tables every program in the interpreter shares. A third export red-team, over five rounds: a metaclass whose
# __eq__ and __hash__ lie made its class int's twin in the ABCs' caches (isinstance(5, Iterable) said yes in a
# program importing the export); a str whose __getitem__ lied left another template in re's cache under r'\1'; an
# int whose __ror__ lied became the value of re.I | re.M, so a program's IGNORECASE went missing; a class refused
# only once made had already been handed to the skill (a metaclass's __init__, a descriptor ABCMeta reads); a str's
# own translate() was handed re.escape's shared table.
VALUE_TYPES = (str, bytes, bytearray, int, float, complex, tuple, frozenset)
OWN_NAMES = frozenset({"__init__", "__module__", "__qualname__", "__doc__", "__dict__", "__weakref__", "__slots__",
                       "__annotations__", "__classcell__", "__firstlineno__", "__static_attributes__",
                       "__abstractmethods__", "_abc_impl",  # the two ABCMeta sets in every class it makes
                       "__orig_bases__"})  # what `class Pair(tuple[int, int])` sets; typing reads it, no allowed module
MADE = weakref.WeakSet()  # every class a skill has made (that check_made_class let through)
CLASS_MRO = type.__dict__["__mro__"]  # a class's own MRO and own dict, read past whatever its metaclass would say
CLASS_DICT = type.__dict__["__dict__"]


def kind_name(kind) -> str:
    """What a skill's class of KIND is called in a refusal: a metaclass, or a subclass of a value type."""
    return "metaclass" if kind is type else "subclass of " + kind.__name__


def hook_refusal(hook: str) -> str:
    return (f"{hook!r} is not allowed in a skill: a hook of class creation or isinstance reaches classes the skill "
            f"did not make")


def refuse_class_hooks(names) -> None:
    """Raise if NAMES (plain str) hold one of CLASS_HOOKS."""
    hooks = sorted(CLASS_HOOKS.intersection(names))
    if hooks:
        raise TypeError(hook_refusal(hooks[0]))


def kind_attribute(kind, name) -> bool:
    """Whether a metaclass's or a value subclass's attribute NAME is one a skill may not give it: a special method,
    or any attribute of KIND itself, public ones too (re.escape handed re's shared table to a str's own translate(),
    and Flag's len() called an int's own bit_count(): a fifth round)."""
    return type(name) is str and name not in OWN_NAMES and (
        (name.startswith("__") and name.endswith("__")) or hasattr(kind, name))


def refuse_special_names(kind, namespaces):
    """Raise if one of NAMESPACES (of a metaclass or a subclass of a value type, KIND) defines a special method or
    redefines an attribute of KIND (kind_attribute)."""
    for names in namespaces:
        special = sorted(key for key in names if kind_attribute(kind, key))
        if special:
            raise TypeError(f"a skill may not make a {kind_name(kind)} with its own {special[0]}: standard-library "
                            f"code calls it on what a skill hands over, also where every program shares it (re's "
                            f"caches, the ABCs')")


def value_kind(classes):
    """type or the value type among CLASSES' bases (VALUE_TYPES), or None."""
    for kind in (type,) + VALUE_TYPES:
        if any(issubclass(type(c), type) and issubclass(c, kind) for c in classes):
            return kind
    return None


NAMEDTUPLE_NAMES = frozenset({"__new__", "__repr__", "__getnewargs__", "__match_args__"})  # what namedtuple defines


def refuse_foreign_bases(kind, classes):
    """Raise if one of CLASSES (the MROs of a metaclass's or value subclass's bases) is neither KIND's own, nor one the
    skill made (MADE), nor a namedtuple's: collections.UserString's special methods read a `data` the skill's
    property answered, and Sequence's abstract __getitem__ left an empty template in re's cache (a fourth round)."""
    chain = CLASS_MRO.__get__(kind)
    for c in classes:
        if c in chain or c in MADE:
            continue
        names = CLASS_DICT.__get__(c)
        if (kind is tuple and CLASS_MRO.__get__(c)[1:] == chain and type(names.get("_fields")) is tuple
                and not {n for n in names if n.startswith("__") and n.endswith("__")} - NAMEDTUPLE_NAMES - OWN_NAMES):
            continue
        raise TypeError(f"a skill's {kind_name(kind)} may not also inherit from {c.__module__}.{c.__qualname__}: "
                        f"standard-library code would read its values through that class's special methods")


def plain_slots(namespace):
    """NAMESPACE's __slots__, if it has any, made a tuple of plain str (read once: a second read could answer
    otherwise), none of them a special name but __dict__ and __weakref__. A slot is a descriptor of its name in the
    class's own dict: one named __class__, with a __getattr__ to answer for it, lied to isinstance() again, and one
    named __subclasses__ broke every isinstance() of an ABC the class subclassed (a seventh round)."""
    if "__slots__" not in namespace:
        return
    slots = namespace["__slots__"]
    slots = (slots,) if issubclass(type(slots), str) else tuple(slots)
    for slot in slots:
        if type(slot) is not str:
            raise TypeError("a class a skill makes must name its slots with plain str")
        if slot.startswith("__") and slot.endswith("__") and slot not in ("__dict__", "__weakref__"):
            raise TypeError(f"a slot named {slot!r} is not allowed in a skill: it would stand for the class's own "
                            f"{slot}, which the interpreter reads")
    namespace["__slots__"] = slots


def check_class_plan(bases, namespace):
    """Before a class is made from BASES and NAMESPACE (slots made plain in it): see check_made_class."""
    plain_slots(namespace)
    kind = value_kind(bases)
    if kind is not None:
        classes = [c for base in bases if issubclass(type(base), type) for c in CLASS_MRO.__get__(base)]
        refuse_foreign_bases(kind, classes)
        refuse_special_names(kind, [namespace] + [CLASS_DICT.__get__(c) for c in classes if c in MADE])


def check_made_class(made):
    """MADE, a class a skill has just made (or whatever its metaclass gave back), if it may have it: a metaclass or
    a subclass of VALUE_TYPES all of whose classes are the value type's own, a namedtuple's or ones the skill made,
    and none of those the skill made defines a special method but OWN_NAMES."""
    if not issubclass(type(made), type):
        return made
    refuse_class_hooks(CLASS_DICT.__get__(made))  # what the class's own dict holds, however it got there
    kind = value_kind([made])
    if kind is not None:
        mro = CLASS_MRO.__get__(made)
        refuse_foreign_bases(kind, mro[1:])
        refuse_special_names(kind, [CLASS_DICT.__get__(c) for c in mro if c is made or c in MADE])
    MADE.add(made)
    return made


def class_namespace(namespace):
    """NAMESPACE as a class a skill makes may have it: a plain dict of plain str keys, none of them in CLASS_HOOKS.
    Always a fresh copy, which the skill cannot reach: a finaliser run by the garbage collector between this
    check and type()'s own copy put a hook into the dict it had handed over (third export audit). A dict subclass
    is copied through its keys(), as type() would copy it."""
    namespace = dict(namespace)
    if any(type(key) is not str for key in namespace):  # a key object equal to '__subclasshook__' would pass
        raise TypeError("a class a skill makes must name its attributes with plain str")
    refuse_class_hooks(namespace)
    return namespace


def make_type_guard():
    """The `type` a skill sees. type(x), isinstance(x, type) and `class Meta(type)` work as with the real one,
    but a class made by calling it, or a metaclass subclassing it, gets its namespace through class_namespace
    first, and type(x) hands out no metaclass the skill did not make: for one (ABCMeta, the real type) it
    gives this type, so every class a skill makes by a call is checked (a class statement's, through the guarded
    __build_class__ in make_builtins). A second export audit: type('Evil', (Mapping,),
    {'__sub' + 'classhook__': ...}) made str a Mapping for the whole interpreter, a program importing the
    export too."""
    real = type

    class TypeGuard(real):
        def __call__(cls, *args, **kwargs):
            if cls is guarded:
                if len(args) == 1 and not kwargs:
                    found = real(args[0])
                    foreign = real.__subclasscheck__(real, found) and not real.__subclasscheck__(guarded, found)
                    # calling GenericAlias(f, ...)() sets __orig_class__ on what f returns, in C (a fifth round)
                    alias = real.__subclasscheck__(types.GenericAlias, found)
                    return guarded if foreign or alias else found
                cls = real
            if len(args) != 3:
                return real.__call__(cls, *args, **kwargs)
            namespace = class_namespace(args[2])
            # type() names the module a class is made in after the code calling it, which here is this code
            namespace.setdefault("__module__", sys._getframe(1).f_globals.get("__name__"))
            check_class_plan(args[1], namespace)
            return check_made_class(real.__call__(cls, args[0], args[1], namespace, **kwargs))

        def __instancecheck__(cls, obj):
            return real.__instancecheck__(real if cls is guarded else cls, obj)

        def __subclasscheck__(cls, sub):
            return real.__subclasscheck__(real if cls is guarded else cls, sub)

    class guarded(real, metaclass=TypeGuard):
        pass

    guarded.__name__ = guarded.__qualname__ = "type"
    guarded.__module__ = "builtins"
    MADE.add(guarded)  # a base of every metaclass a skill makes, and it defines nothing (refuse_foreign_bases)
    return guarded


# Public module attributes that hand out arbitrary attribute lookups (string.Formatter's
# get_field walks "0.__class__.__mro__" with the real getattr): left out of the copies.
# functools.update_wrapper/wraps copy attributes named by the caller, singledispatch evaluates
# string annotations (typing.get_type_hints): both are a real getattr/eval in disguise. Calling
# functools.GenericAlias(f, ...)() sets __orig_class__ on what f returns, in C: a real attribute write.
HIDDEN_MODULE_ATTRIBUTES = {
    "string": {"Formatter"},
    "functools": {"update_wrapper", "wraps", "singledispatch", "singledispatchmethod", "GenericAlias"},
}
TIMEOUT_MESSAGE = "timeout: one call ran past its time bound"
NOT_HELD = "protocol: the texts are not held here"

# Texts the server was sent, by the host's key: a spare inherits them with its fork, so a request
# naming a key it holds comes without its texts, which are then neither sent nor parsed again.
# Only the server writes it (after an answer, before the next fork); a child's changes stay its own.
# A child that scores them writes the reference counts of the texts (copying those pages from the
# server's); one that does not, copies nothing of them. (Packing them into one str, tried, cost
# more to unpack in every scoring child, 2.7 ms for the CoLA train split, than the copies.)
HELD: "collections.OrderedDict[str, list[str]]" = collections.OrderedDict()


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


def read_body(fd: int, cap: int = MAX_REQUEST) -> bytes | None:
    """One frame's body, unparsed; None at the end of the channel."""
    head = read_exact(fd, HEADER.size)
    if head is None:
        return None
    (size,) = HEADER.unpack(head)
    if size > cap:
        raise ValueError(f"a frame of {size} bytes is over the {cap} byte cap")
    return read_exact(fd, size)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def framed(body: bytes) -> bytes:
    return HEADER.pack(len(body)) + body


def write_frame(fd: int, obj) -> None:
    write_all(fd, framed(json.dumps(obj, ensure_ascii=True).encode()))


# ---------------------------------------------------------------- inside the child: the clock


class Clock:
    """One periodic SIGALRM for the whole child; a call past its bound gets CallTimeout.

    Cheaper than arming a timer around every call (two syscalls each). A single timed section
    (the module body, one call of call_one) stores its start time in `started`. run_texts
    stores nothing per call: it hands the clock its outputs list, whose length is the index
    of the call under way, and a tick that finds the same length it first saw at least
    `limit` seconds ago stops that call. Either way a call is never stopped before its bound
    and is stopped within limit + 2 ticks (a tick is an eighth of the limit, at most 0.25 s)."""

    limit = 2.0
    started = 0.0  # perf_counter() at the start of the timed section, 0.0 outside one
    progress: list | None = None  # run_texts' outputs while it runs
    seen = -1  # len(progress) at the tick that first saw it
    seen_at = 0.0
    # Calls the clock stopped: a skill may catch CallTimeout and return an answer anyway; that
    # answer is a timeout all the same. `fired`: the timed section's call; `stopped`: run_texts' indices.
    fired = False
    stopped: list = []

    @classmethod
    def start(cls, limit: float) -> None:
        cls.limit = limit
        cls.seen, cls.seen_at = -1, 0.0
        tick = min(max(limit / 8, 0.005), 0.25)
        signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, tick, tick)
        signal.setitimer(signal.ITIMER_PROF, limit + WATCHDOG_MARGIN_S)

    @classmethod
    def stop(cls) -> None:
        cls.started = 0.0
        cls.progress = None
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.setitimer(signal.ITIMER_PROF, 0)


# The clock's handler runs only between bytecodes, so one built-in call that loops in C without
# looking at signals (sum(itertools.repeat(1, 10**12)), deque(itertools.count(), maxlen=0),
# math.factorial(10**7); re's matcher does look, so a backtracking regex meets the clock) never meets
# it. Every tick within the bounds pushes a CPU-time timer forward; with no push for limit + this
# margin of CPU, the timer's SIGPROF (no handler: its default action ends the process) stops the
# child, and the server answers with a timeout instead of waiting for the run's wall deadline.
WATCHDOG_MARGIN_S = 1.0


def on_alarm(signum, frame):
    """A tick: stop the call under way if it is past its bound; otherwise push the watchdog on (a
    call past its bound that catches CallTimeout and goes on gets no more pushes: it is stopped too)."""
    started = Clock.started
    if started:
        if time.perf_counter() - started >= Clock.limit:
            Clock.fired = True
            raise CallTimeout()
    else:
        progress = Clock.progress
        if progress is not None:
            n = len(progress)
            now = time.perf_counter()
            if n != Clock.seen:
                Clock.seen, Clock.seen_at = n, now
            elif now - Clock.seen_at >= Clock.limit:
                Clock.stopped.append(n)
                raise CallTimeout()
    signal.setitimer(signal.ITIMER_PROF, Clock.limit + WATCHDOG_MARGIN_S)


# ---------------------------------------------------------------- inside the child: results

_type_name = type.__dict__["__name__"].__get__  # the real name, whatever a metaclass claims


def type_name(obj) -> str:
    """The real name of obj's type, at most 100 characters (a skill may make a class of any name)."""
    try:
        name = _type_name(type(obj))
        return clean_text(name[:100]) if type(name) is str else "?"
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
    return f"exception: {type_name(exc)}: {safe_str(exc)}{where_in_library(exc)}"


TRACEBACK = BaseException.__traceback__  # the built-in descriptor: a subclass's own __traceback__ never runs


def where_in_library(exc: BaseException) -> str:
    """' (in library NAME, line N)' when the innermost frame the exception passed was a library's, else ''."""
    tb, found = TRACEBACK.__get__(exc), ""
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.startswith("<skill ") and filename.endswith(">"):
            found = f" (in library {filename[7:-1]}, line {tb.tb_lineno})"
        elif filename == "<skill>":
            found = ""
        tb = tb.tb_next
    return found


MAX_LABEL_CHARS = 200  # a str answer longer than this is no task's label


def encode_output(kind: str, out, text_length: int = 0):
    """Return (json value, error or None). Only exact built-in types pass: no hostile dunders run.
    A text of n characters holds at most n valid spans: a longer list is refused here, before it
    costs the host a Python object per item."""
    if kind == "classification":
        t = type(out)
        if t is int or t is bool:
            return out, None
        if t is str and len(out) <= MAX_LABEL_CHARS and valid_unicode(out):  # a task's labels may be words
            return out, None
        if t is str:
            return None, f"type: returned a str of {len(out)} characters, not a label"
        return None, f"type: returned {type_name(out)}, not a label"
    if kind == "spans":
        if type(out) is not list:
            return None, f"type: returned {type_name(out)}, not a list of spans"
        if len(out) > max(text_length, 1):
            return None, f"type: {len(out)} spans for a text of {text_length} characters"
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
    Clock.fired = False
    Clock.started = time.perf_counter()
    try:
        try:
            out = solve(text)
            if Clock.fired:  # it caught the clock's CallTimeout and answered after its bound
                return None, TIMEOUT_MESSAGE
            t = type(out)
            if kind == "classification" and (t is int or t is bool):
                return out, None
            value = encode_output(kind, out, len(text))
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

    The same contract as call_one() per text, at the cost of a plain loop: the clock watches
    len(outputs) (see Clock), so a call stores nothing before or after it, and a classification
    skill returning an exact int or bool costs one type check and an append. Whatever stops a
    call (an exception, the clock) lands before that text's output is stored, so the failed
    text is always the one at len(outputs); the loop resumes after it."""
    outputs: list = []
    errors: dict[str, str] = {}
    append = outputs.append
    fast = kind == "classification"
    n = len(texts)
    timeouts = 0
    Clock.seen = -1
    Clock.stopped = []
    Clock.progress = outputs
    try:
        while len(outputs) < n:
            if timeouts >= MAX_CALL_TIMEOUTS:  # a skill this slow is not worth the rest of the split
                skipped = f"timeout: skipped after {MAX_CALL_TIMEOUTS} calls ran past their bound"
                for i in range(len(outputs), n):
                    errors[str(i)] = skipped
                outputs.extend([None] * (n - len(outputs)))
                break
            try:
                for text in itertools.islice(texts, len(outputs), None):
                    out = solve(text)
                    if fast and (type(out) is int or type(out) is bool):
                        append(out)
                        continue
                    value, err = encode_output(kind, out, len(text))
                    del out  # a hostile __del__ runs here, under the clock
                    if err is not None:
                        errors[str(len(outputs))] = err
                    append(value)
            except BaseException as exc:  # noqa: BLE001 - the skill raised, or the clock ran out
                try:
                    err = TIMEOUT_MESSAGE if type(exc) is CallTimeout else describe_error(exc)
                    del exc  # its traceback holds the skill's frames: their objects go here, under the clock
                except CallTimeout:  # the clock ran out while describing a hostile exception
                    err = TIMEOUT_MESSAGE
                errors[str(len(outputs))] = err
                append(None)
                timeouts += err.startswith("timeout")
    finally:
        Clock.progress = None
    for i in Clock.stopped:  # a call that caught the clock's CallTimeout and answered after its bound
        if i < len(outputs) and str(i) not in errors:
            errors[str(i)] = TIMEOUT_MESSAGE
            outputs[i] = None
    return outputs, errors


# ---------------------------------------------------------------- inside the child: guards


# The only names with two leading underscores a skill may use: `__builtins__` is the dict of its guards (a skill
# swapped the write guard in it) and `__loader__` was the real one (load_module('posix')), a third export red-team
DUNDER_NAMES = frozenset({"__name__", "__doc__", "__import__"})


def check_tree(tree: ast.AST) -> None:
    """Refuse `_` attributes, frame/code attributes and str.format: the static gate's rule, again in here."""
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Attribute):
            names = [node.attr]
        elif isinstance(node, (ast.Import, ast.ImportFrom)):  # `import re._compiler as c`, `from re import _parser`
            names = [part for alias in node.names for part in alias.name.split(".")]
            names += (node.module or "").split(".") if isinstance(node, ast.ImportFrom) else []
            names = [name for name in names if name.startswith("_")]
        elif isinstance(node, ast.MatchClass):  # `case object(__class__=c)` is an attribute lookup
            names = list(node.kwd_attrs)
            if node.patterns:  # `case C(v)` looks up the names in C.__match_args__, which a class may make anything
                raise Forbidden(f"a class pattern with positional sub-patterns is not allowed in a skill "
                                f"(line {getattr(node, 'lineno', '?')})")
        for name in names:
            if refused_attribute(name):
                what = "a private module" if isinstance(node, (ast.Import, ast.ImportFrom)) else "attribute"
                raise Forbidden(f"{what} {name!r} is not allowed in a skill (line {getattr(node, 'lineno', '?')})")
        identifiers = [getattr(node, field, None) for field in ("id", "arg", "name", "asname", "rest")]
        identifiers += list(getattr(node, "names", None) or [])  # Global, Nonlocal hold names
        if WRITE_GUARD in identifiers:
            raise Forbidden(f"the name {WRITE_GUARD!r} is the harness's (line {getattr(node, 'lineno', '?')})")
        if isinstance(node, ast.Name) and node.id.startswith("__") and node.id not in DUNDER_NAMES:
            raise Forbidden(f"the name {node.id!r} is not allowed in a skill (line {getattr(node, 'lineno', '?')}): "
                            f"names with two leading underscores reach the harness's builtins and module attributes")
        if isinstance(node, ast.Constant) and type(node.value) is str:
            identifiers.append(node.value)
        hook = next((name for name in identifiers if type(name) is str and name in CLASS_HOOKS), None)
        if hook:
            raise Forbidden(f"{hook_refusal(hook)} (line {getattr(node, 'lineno', '?')})")


class GuardWrites(ast.NodeTransformer):
    """`obj.attr = value`, `obj.attr += value` and `del obj.attr` become the same on WRITE_GUARD(obj), which
    lets them through only for what the skill made (make_builtins: guarded_write). In a class body the guard is
    fetched by a lambda: a class body looks a name up in its own namespace first, which a metaclass's
    __prepare__ fills as it likes (a second export audit: it handed the body a guard that let anything
    through), where a lambda's body looks in the globals, then the builtins."""

    def __init__(self) -> None:
        self.in_class = [False]  # whether the code being visited runs in a class body

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.ClassDef:
        for child in (*node.bases, *node.keywords, *node.decorator_list):  # run where the class statement is
            self.visit(child)
        self.in_class.append(True)
        node.body = [self.visit(statement) for statement in node.body]
        self.in_class.pop()
        return node

    def in_function(self, node: ast.AST) -> ast.AST:
        self.in_class.append(False)
        self.generic_visit(node)
        self.in_class.pop()
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = in_function

    def visit_Attribute(self, node: ast.Attribute) -> ast.Attribute:
        self.generic_visit(node)
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            guard: ast.expr = ast.Name(id=WRITE_GUARD, ctx=ast.Load())
            if self.in_class[-1]:
                no_arguments = ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[], defaults=[])
                guard = ast.Call(func=ast.Lambda(args=no_arguments, body=guard), args=[], keywords=[])
            node.value = ast.copy_location(ast.Call(func=guard, args=[node.value, ast.Constant(node.attr)], keywords=[]),
                                           node.value)
        return node


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
    if name == "string":
        copy.__dict__["Template"] = template_class(module.Template, copy_with_source(sys.modules["re"])[1])
    return copy


def template_class(template, own):
    """string.Template as a skill's copy of string has it: a class of its own holding the real one's methods, not a
    subclass (super(string.Template, string.Template).flags read the real one's flags, the program's re.IGNORECASE,
    whose RegexFlag then kept a skill's int subclass as the value of re.I | re.M: an own_re red-team), its flags the
    skill's own re.IGNORECASE and its patterns compiled as string.Template compiles them (3.9 to 3.13), by OWN, the
    skill's instance of re (not its copy, whose attributes the skill may have set). A subclass's flags are made
    plain (an int, or the skill's RegexFlag of one) and its strings plain str first (a flags object
    whose __eq__ and __hash__ lie took re's cache, when the shared re compiled them), and it may have no metaclass
    of its own (a property could answer one read of flags here, another there)."""
    def compile_pattern(cls):
        if "pattern" in vars(cls):
            pattern = cls.pattern
        else:
            delimiter = own.escape(cls.delimiter)
            named, braced = cls.idpattern, cls.braceidpattern or cls.idpattern
            pattern = fr"""
            {delimiter}(?:
              (?P<escaped>{delimiter})  |   # Escape sequence of two delimiters
              (?P<named>{named})       |   # delimiter and a Python identifier
              {{(?P<braced>{braced})}} |   # delimiter and a braced identifier
              (?P<invalid>)             # Other ill-formed delimiter exprs
            )
            """
        cls.pattern = own.compile(pattern, cls.flags | own.VERBOSE)

    def __init_subclass__(cls):
        if type(cls) is not type:
            raise TypeError("a skill's string.Template subclass may not have a metaclass of its own")
        flags = cls.flags  # read once
        cls.flags = own.RegexFlag(plain_flags(flags)) if type(flags) is own.RegexFlag else plain_flags(flags)
        for name in ("delimiter", "idpattern", "braceidpattern", "pattern"):
            value = getattr(cls, name)  # read once: a second read could answer otherwise
            if issubclass(type(value), str):
                setattr(cls, name, plain_text(value))
            elif not (value is None and name == "braceidpattern") and type(value) is not re.Pattern:
                raise TypeError(f"a string.Template subclass's {name} must be a str in a skill, not "
                                f"{type(value).__name__}")
        compile_pattern(cls)

    namespace = {key: value for key, value in vars(template).items()
                 if key not in ("__dict__", "__weakref__", "__init_subclass__", "pattern")}
    namespace.update(__init_subclass__=classmethod(__init_subclass__), flags=own.RegexFlag(plain_flags(template.flags)))
    made = type("Template", (), namespace)
    compile_pattern(made)
    return made


def plain_text(value):
    """VALUE as a str or bytes of exactly that type (a subclass's methods are the skill's). Its real type, not
    isinstance(), which reads a __class__ an object may answer as it likes."""
    if issubclass(type(value), str):
        return "".join([value])
    if issubclass(type(value), (bytes, bytearray)):
        return b"".join([value])
    raise TypeError(f"a str or bytes is needed here in a skill, not {type(value).__name__}")


def plain_flags(flags):
    """FLAGS as an int of exactly that type: re caches a compiled pattern under its flags, and a flags object whose
    __eq__ and __hash__ lie (with __and__ and __or__, re asks no more) took another program's entry."""
    if not issubclass(type(flags), int):
        raise TypeError(f"re's flags must be an int in a skill, not {type(flags).__name__}")
    return int.__index__(flags)


LOADS = itertools.count()  # own_re's loads in this process (with id(COPIES), a name no other load takes)


def own_re():
    """A fresh instance of the re package for skills: its pattern cache, escape table and RegexFlag are not the ones
    the rest of the interpreter uses, so what a skill's arguments do to them stays with the skill's own calls (a
    flags object whose __eq__ and __hash__ lie filed IGNORECASE under every program's 'abc'; a str subclass's
    translate() wrote into re.escape's table; RegexFlag(x) kept x as the value of re.I | re.M). Its calls cost what
    re's own do (wrappers that checked every argument cost a rule-based skill 13%).

    The standard library's own files, loaded under a name no other load takes, which leaves sys.modules again (a
    program may put its sys.modules back as it was). Nothing the interpreter shares is touched, so loads in several
    threads or exports at once need no lock (a lock held across the load let a skill's finaliser, run by the garbage
    collector in it, stop every import of the program: the fourth own_re red-team): its package's imports go through
    instance_import, which hands it a copyreg that registers nothing (re registers a pickle reducer for Pattern, a
    type the two share) and answers re.Scanner's `from ._constants import` at call time from the instance. It raises
    the shared re.error (the shared re's C code raises it too, from Pattern.sub's templates, and a program catches
    and pickles that one), and re.DEBUG prints nothing (an export's stdout carries its answers; 3.10's printing
    modules are shared). Not covered: Pattern.sub() and Match.expand() parse a template through the shared re, in
    C, so a skill's str subclasses may not lie (check_made_class)."""
    shared = sys.modules["re"]
    name = f"_skillkiln_re_{id(COPIES):x}_{next(LOADS)}"
    origin = shared.__spec__.origin
    spec = importlib.util.spec_from_file_location(name, origin,
                                                  submodule_search_locations=shared.__spec__.submodule_search_locations)
    module = importlib.util.module_from_spec(spec)
    registry = types.SimpleNamespace(pickle=lambda *args, **kwargs: None)

    def instance_import(imported, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and imported == "copyreg":
            return registry
        if level == 1 and imported == "_constants" and "_constants" in vars(module):  # Scanner(), after the load
            return vars(module)["_constants"]
        return builtins.__import__(imported, globals, locals, fromlist, level)

    vars(module)["__builtins__"] = dict(vars(builtins), __import__=instance_import)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except OSError as exc:  # a standard library in a zip (an embedded Python, a frozen app)
        raise ImportError(f"a skill's re is loaded from the standard library's files, and {origin} could not be read: "
                          f"{exc}") from None
    finally:
        for key in [key for key in list(sys.modules) if key == name or key.startswith(name + ".")]:
            del sys.modules[key]  # list(): another thread may add a module meanwhile
    parts = [module, *(value for value in vars(module).values()
                       if isinstance(value, types.ModuleType) and value.__name__.startswith(name + "."))]
    for part in parts:
        for error in ("error", "PatternError"):  # PatternError from 3.13 on
            if error in vars(part) and hasattr(shared, error):
                setattr(part, error, getattr(shared, error))
        if part is not module:
            part.print = lambda *args, **kwargs: None  # the parse tree and code re.DEBUG prints
    del vars(module)["copyreg"]  # instance_import's stand-in, not a module: a module copy would keep it
    for value in vars(module).values():  # re.compile and re.RegexFlag say they are re's, as they are
        if isinstance(value, (type, types.FunctionType)) and value.__module__ == name:
            value.__module__ = "re"
    module.__name__ = "re"
    return module


# Made once, in the server; a child fills in (rather than copies) its own forked copy of them, so
# a request does not touch every builtin and module attribute again (each a copy-on-write fault).
SAFE_BUILTINS = {k: v for k, v in vars(builtins).items() if k not in UNSAFE_BUILTINS and not k.startswith("_")}
COPIES: dict[str, tuple[int, types.ModuleType]] = {}  # module name -> (size of its dict, its copy)
PRELOADED = ("re", "math", "string", "collections", "collections.abc", "itertools", "functools", "unicodedata")


def copy_of(module):
    """The copy of an allowed module (made again if the module has changed since; re's, never)."""
    return copy_with_source(module)[0]


def copy_with_source(module):
    """The copy of an allowed module and what it was made from: the module, or for re the skill's own instance
    (own_re), which the skill cannot change (it may set attributes on its copy). No lock: two threads' first imports
    may each make a copy, and the first one stored is the one every thread gets, so a skill's re is the one its
    string.Template was made with (a fifth own_re red-team found a Template made with another). re's copy is never
    made again: the instance does not follow what a program sets on the shared re."""
    name = module.__name__
    size = len(vars(module))
    cached = COPIES.get(name)
    if cached is None or (cached[0] != size and name != "re"):
        source = own_re() if name == "re" else module
        made = (size, module_copy(source, name.split(".")[0]), source)
        if cached is not None:  # the module has changed since its copy was made
            COPIES.pop(name, None)
        cached = COPIES.setdefault(name, made)
    return cached[1], cached[2]


def make_builtins(allowed_imports: set[str], packages: dict | None = None) -> dict:
    """Guarded builtins (this process's SAFE_BUILTINS, filled in: call it once per child).
    `packages` maps a name (`skills`) to a module the host sent, filled in later."""
    real_import = builtins.__import__
    packages = packages if packages is not None else {}

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        if type(name) is str and level == 0 and name.split(".")[0] in packages:
            return packages[name.split(".")[0]]  # `from skills import NAME`: stored skills the host sent
        if type(name) is not str or level != 0 or name.split(".")[0] not in allowed_imports:
            raise ImportError(f"import of {name!r} is not allowed in a skill")
        # `import re._compiler as c`: the copy of re leaves it out, and the import would fall back to the real
        # module in sys.modules, whose functions a skill could then rebind for the harness's own use of re.
        # A tuple, read once: an iterable answering a second read otherwise imported re.__pycache__ (a red-team)
        fromlist = tuple(fromlist or ())
        private = [part for part in [*name.split("."), *fromlist] if type(part) is not str or part.startswith("_")]
        if private:
            raise ImportError(f"import of {private[0]!r} from {name!r} is not allowed in a skill (a private name)")
        module = real_import(name, None, None, fromlist, 0)
        if not fromlist and "." in name:  # `import collections.abc` binds `collections`
            return copy_of(sys.modules[name.split(".")[0]])
        return copy_of(module)

    def safer_getattr(obj, name, *default):
        if type(name) is not str:  # a str subclass would pass the checks below, and the real getattr takes it
            raise TypeError(f"attribute name must be a str, not {type(name).__name__}")
        if refused_attribute(name):
            raise AttributeError(f"attribute {name!r} is not allowed in a skill")
        return getattr(obj, name, *default)

    safe = SAFE_BUILTINS
    safe["__import__"] = guarded_import
    safe["getattr"] = safer_getattr

    def safer_hasattr(obj, name):
        try:
            safer_getattr(obj, name)
        except AttributeError:
            return False
        return True

    safe["hasattr"] = safer_hasattr
    safe["type"] = make_type_guard()
    build_class = builtins.__build_class__

    def guarded_build_class(function, name, *bases, **keywords):  # a class statement
        metaclass = keywords.pop("metaclass", builtins.type)  # the real type finds the bases' metaclass itself

        def make(name, bases, namespace, **keywords):  # the class body has run: its namespace, before the class
            check_class_plan(bases, namespace)
            return metaclass(name, bases, namespace, **keywords)

        return check_made_class(build_class(function, name, *bases, metaclass=make, **keywords))

    safe["__build_class__"] = guarded_build_class

    def guarded_write(obj, name=None):
        """OBJ, if a skill may set or delete its attribute NAME: a module it holds (its own, or its copies of the
        allowed ones), a function or class its code defined, or an instance of such a class. Not a class or
        function of the standard library, which every program in the interpreter shares (export audit: a skill
        set collections.abc.Mapping.get, and a program that imported its export ran it on os.environ); nor, on its
        own metaclass or subclass of a value type or their instances, an attribute of that type (kind_attribute:
        `Word.translate = f` after the class was made, a fifth round)."""
        if isinstance(obj, types.ModuleType):
            return obj
        owner = obj if isinstance(obj, (type, types.FunctionType)) else type(obj)
        module = vars(owner).get("__module__") if isinstance(owner, type) else getattr(owner, "__module__", None)
        if type(module) is str and (module == "skill" or module.startswith("skills.")):
            kind = value_kind([owner]) if isinstance(owner, type) else None
            if kind is not None and kind_attribute(kind, name):
                raise AttributeError(f"a skill may not set {name!r} on its {kind_name(kind)} {owner.__name__} or its "
                                     f"instances: {kind.__name__} has it, and standard-library code calls it")
            return obj
        raise AttributeError(f"a skill may set attributes only on its own functions, classes, their instances and "
                             f"modules, not on a {type(obj).__name__} of {module or 'the interpreter'}")

    safe[WRITE_GUARD] = guarded_write
    safe["print"] = lambda *args, **kwargs: None  # the sandbox's stdout is /dev/null; an export's carries its answers
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


RLIMITS = tuple(sorted(getattr(resource, name) for name in dir(resource) if name.startswith("RLIMIT_")))
# What a request's child inherits from the server: its limits and scheduling when it started (set in serve()).
# All run as one user, so a skill with full Python (past the guards) could lower them for pid 1 or the
# spare with prlimit(2), setpriority(2) or sched_setaffinity(2), and every later request would inherit them.
BASELINE: dict[str, object] = {}


def process_state() -> dict[str, object]:
    """This process's resource limits, nice value, CPU affinity and scheduling policy."""
    state: dict[str, object] = {}
    for what, read in (("limits", lambda: [resource.getrlimit(r) for r in RLIMITS]),
                       ("nice", lambda: os.getpriority(os.PRIO_PROCESS, 0)),
                       ("cpus", lambda: sorted(os.sched_getaffinity(0))),
                       ("policy", lambda: os.sched_getscheduler(0))):
        try:
            state[what] = read()
        except (OSError, AttributeError):  # not on this platform: the same in both readings
            state[what] = None
    return state


def tampered() -> str:
    """What of this process's state differs from the server's at start ("" when nothing does)."""
    if not BASELINE:
        return ""
    now = process_state()
    return ", ".join(key for key in BASELINE if now.get(key) != BASELINE[key])


TAMPERED = "sandbox: tampered:"  # a child's failure that only the harness writes (before the skill loads)


def isolate_fds(*keep: int) -> None:
    """fds 0-2 on /dev/null, every other fd but `keep` closed (the channel above all)."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 65536)


def span_problem(spans: list, text: str, labels: list) -> str:
    """Why an encoded span list (exact [int, int, str] items) is not valid for `text`, or "":
    each span inside the text with start < end, its label in the label set, no two overlapping."""
    ordered = []
    for start, end, label in spans:
        if not 0 <= start < end <= len(text):
            return f"span {(start, end, label)!r} is not inside the text (length {len(text)}) with start < end"
        if label not in labels:
            return f"span {(start, end, label)!r} has a label outside the label set"
        ordered.append((start, end, label))
    ordered.sort()
    for a, b in zip(ordered, ordered[1:]):
        if b[0] < a[1]:
            return f"spans {a!r} and {b!r} overlap"
    return ""


def output_key(out) -> str:
    """An output as the host compares it: True and 1 are one label there (GateConfig.bool_as_int), so
    a constant skill that answers True and 1 by turns is still constant."""
    return json.dumps(int(out) if type(out) is bool else out)


def run_properties(solve, req: dict, first_outputs: list) -> dict:
    """Hypothesis properties, run here inside the sandbox: total, label set (classification) or
    valid spans (spans), deterministic, sensitive."""
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
    final: list[str] = []  # the key and detail of the last failing call (hypothesis replays the shrunk one last)

    def fail(key: str, detail: str) -> None:
        failures.setdefault(key, detail)
        final[:] = [key, detail]
        raise AssertionError(key)

    def check(text: str):
        out, err = call_one(solve, text, kind)
        if err is not None:
            fail("total", f"{err} on input {text[:120]!r}")
        if kind == "classification" and out not in labels:
            fail("label_set", f"returned {out!r} on input {text[:120]!r}")
        if kind == "spans":
            problem = span_problem(out, text, labels)
            if problem:
                fail("span_valid", f"returned {safe_str(out, 200)}: {problem} on input {text[:120]!r}")
        seen.add(output_key(out))
        return out

    words = sorted({w for t in probes for w in t.split()})[:2000] or ["a"]
    strategy = st.one_of(
        st.text(max_size=200),
        st.lists(st.sampled_from(words), max_size=25).map(" ".join),
        st.sampled_from(probes or [""]),
        # longer than any sentence of the task: a skill with a fixed-size table of words must not crash on it
        st.lists(st.sampled_from(words), min_size=50, max_size=300).map(" ".join),
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
        for key in ("total", "label_set", "span_valid"):
            if key in failures:
                failures[key] = failures[key].split(" on input ")[0] + f" on input {last_bad[0][:120]!r}"
        if final and final[1].endswith(f" on input {last_bad[0][:120]!r}"):
            failures[final[0]] = final[1]  # with the shrunk example's own output
    record("total", "total" not in failures, failures.get("total", ""))
    if kind == "classification":
        record("label_set", "label_set" not in failures, failures.get("label_set", ""))
    if kind == "spans":
        if "span_valid" not in failures:  # the outputs on the request's own texts
            for text, out in zip(req["texts"], first_outputs):
                problem = span_problem(out, text, labels) if out is not None else ""
                if problem:
                    failures["span_valid"] = f"returned {safe_str(out, 200)}: {problem} on input {text[:120]!r}"
                    break
        record("span_valid", "span_valid" not in failures, failures.get("span_valid", ""))

    # 2. deterministic: the same text twice, and the first texts again in reverse order
    detail = ""
    texts = req["texts"]
    sample = list(range(min(len(texts), int(spec.get("order_sample", 200)))))
    # (twice in a row: two consecutive calls see different call counts, so an answer from a
    # counter of any period shows even when the reversed pass happens to line up with the first)
    for i in reversed(sample):
        if first_outputs[i] is None:
            continue
        for how in ("when called again in another order", "when called twice in a row"):
            again, err = call_one(solve, texts[i], kind)
            if err is not None or again != first_outputs[i]:
                detail = f"input {texts[i][:120]!r} gave {first_outputs[i]!r} first and {again!r} {how}"
                break
        if detail:
            break
    record("deterministic", not detail, detail)

    # 3. sensitive to its input: some pair of inputs gives different outputs
    seen.update(output_key(o) for o in first_outputs if o is not None)
    record("sensitive", len(seen) > 1, "" if len(seen) > 1 else f"every input gave {next(iter(seen), 'nothing')}")
    return outcome


def load_code(code: str, libraries: dict, allowed_imports, trusted: bool = False, before_run=None) -> dict:
    """The namespace of CODE's module body, run under the guards (with TRUSTED, tests only: full builtins and
    imports, the container is the only wall). LIBRARIES maps a name to the source of a stored skill CODE may
    import as `from skills import NAME`, dependencies first; each is parsed, checked and run the same way.
    BEFORE_RUN, if given, is called once all the code is parsed and checked and before any of it runs.
    `skills export` copies this function and the guards it calls into an export (skills_store/export.py),
    so an exported skill runs under the guards it was judged under."""
    sources = list(libraries.items())
    trees = {}
    for name, source in sources + [("", code)]:
        tree = ast.parse(source, f"<skill {name}>" if name else "<skill>")
        if not trusted:
            check_tree(tree)
            tree = ast.fix_missing_locations(GuardWrites().visit(tree))
        trees[name] = tree
    if trusted:
        namespace = {"__name__": "skill"}
        guarded = None
    else:
        packages: dict = {}
        guarded = make_builtins(set(allowed_imports or []), packages)
        namespace = {"__builtins__": guarded, "__name__": "skill"}
    if before_run is not None:
        before_run()
    for name, _ in sources:
        module = types.ModuleType(f"skills.{name}")  # what it defines is the skill's own (guarded_write)
        if guarded is not None:
            module.__dict__["__builtins__"] = guarded
        exec(compile(trees[name], f"<skill {name}>", "exec"), module.__dict__)
        namespace[name] = module
        if guarded is not None:  # a library may itself use the ones loaded before it
            package = packages.setdefault("skills", types.ModuleType("skills"))
            setattr(package, name, module)
    exec(compile(trees[""], "<skill>", "exec"), namespace)
    return namespace


def load_skill(req: dict, limits: dict):
    """The skill's solve(), its module body run under the load clock; raises on any failure."""
    def start_clock() -> None:
        Clock.start(float(limits["load_s"]))
        Clock.started = time.perf_counter()

    try:
        namespace = load_code(req["code"], dict(req.get("libraries") or {}), req.get("allowed_imports"),
                              req.get("trusted_builtins") is True, start_clock)
    finally:
        Clock.started = 0.0
    solve = namespace.get("solve")
    if not callable(solve):
        raise TypeError("the code defines no callable solve(text)")
    return solve


WARM_UP = json.dumps({"code": "def solve(text):\n    return 1 if text else 0\n", "texts": ["a cat"],
                      "allowed_imports": ["re"], "libraries": {}})


TOUCH_CHUNK = 1024  # held texts a spare touches between looks at its request pipe


def warm_up(req_fd: int = -1) -> None:
    """While a spare waits: parse, load, run and encode a trivial request of its own (never
    written anywhere), so that the pages of the server's memory every request touches (reference
    counts are writes) are copied now rather than during the request that needs them. It leaves
    nothing a request could see: no limits set, the clock stopped and reset."""
    try:
        req = json.loads(WARM_UP)
        solve = load_skill(req, dict(DEFAULT_LIMITS))
        Clock.start(float(DEFAULT_LIMITS["call_s"]))
        try:
            outputs, errors = run_texts(solve, req["texts"], "classification")
        finally:
            Clock.stop()
        json.dumps(outputs, ensure_ascii=True, separators=(",", ":"))
        json.dumps({"ok": True, "errors": errors, "properties": {}, "failure": "", "wall_s": 0.0})
        # The held texts too: a request's first pass over them would otherwise take the page
        # faults of their reference counts (the first scoring pass measured 4 ms slower than the
        # next on CoLA's 8,551 texts without this, 1 ms with it). Chunk by chunk, and never once
        # a request waits on req_fd: the warm-up must not delay the request it prepares for.
        for texts in reversed(HELD.values()):  # the most recently used first
            for start in range(0, len(texts), TOUCH_CHUNK):
                if req_fd >= 0 and select.select([req_fd], [], [], 0)[0]:
                    return
                texts[start:start + TOUCH_CHUNK]  # noqa: B018 - the slice's references are the touch
    except BaseException:  # noqa: BLE001 - only a warm-up: the request itself says what fails
        pass


def spare_main(req_fd: int, out_fd: int) -> None:
    """A spare child: cut off from the channel at once, then idle until the server hands it a
    request on req_fd (or closes it: then it just exits)."""
    isolate_fds(req_fd, out_fd)
    warm_up(req_fd)
    try:
        body = read_body(req_fd)
    except ValueError:
        body = None
    os.close(req_fd)
    if body is None:
        return
    started = time.perf_counter()
    try:
        req = json.loads(body)
        if type(req) is not dict:
            raise ValueError("a request is an object")
    except (ValueError, RecursionError, MemoryError) as exc:
        finish(out_fd, {"ok": False, "failure": f"protocol: {str(exc)[:200]}"}, started)
        return
    del body
    if req.get("texts") is None:
        texts = HELD.get(req.get("texts_key")) if type(req.get("texts_key")) is str else None
        if texts is None:
            finish(out_fd, {"ok": False, "failure": NOT_HELD}, started)
            return
        req["texts"] = texts
    child_main(req, out_fd, started)


SCATTER_POOL = 16 * 1024  # bytes in a pool of Python's small-object allocator (3.11, 64-bit): one size class each
SCATTER_SMALL = range(8, 520, 8)  # its size classes
# blocks past it, from malloc: every size its per-thread cache holds (up to 1,032 bytes, 16 apart), then larger
SCATTER_LARGE = [*range(504, 1040, 16), *range(1040, 8192, 512)]


def scatter_memory() -> list:
    """Blocks of every small size class, each a random number of them from none to a pool's worth, a few of
    malloc's sizes, and one of 0 to 64 kB, kept until the child exits (0.5 ms): where a skill's objects land in
    their pools, and in malloc's heap, then differs from request to request, and with it every address a skill
    can read (the repr of an object, the order of a set of objects), spread over the whole pool as it is in a
    process with another history. (Second sandbox audit: `id()` is refused, but `repr(object())` shows the
    same address, and every fork of a worker had the same allocation history: a skill keyed on an address bit
    answered the same in every request and out of context, and otherwise in its export.)"""
    rng = random.Random(os.urandom(16))
    held: list = []
    for size in SCATTER_SMALL:  # a list's item buffer up to 32 bytes, else a bytes object (its header is 33)
        count = rng.randrange(SCATTER_POOL // size + 1)
        held.append([[None] * (size // 8) for _ in range(count)] if size <= 32 else
                    [bytes(size - 33) for _ in range(count)])
    held += [bytearray(size) for size in SCATTER_LARGE for _ in range(rng.randrange(8))]
    held.append(bytearray(rng.randrange(1 << 16)))
    return held


def child_main(req: dict, out_fd: int, started: float) -> None:
    changed = tampered()  # a spare forked from a tampered server, or tampered with itself while it waited
    if changed:
        finish(out_fd, {"ok": False, "failure": f"{TAMPERED} the worker's {changed} were changed by a skill that "
                                                f"ran before; the host replaces it"}, started)
        return
    limits = {**DEFAULT_LIMITS, **(req.get("limits") or {})}
    req["limits"] = limits
    apply_limits(limits)
    result = {"ok": True, "outputs": None, "errors": {}, "properties": {}, "failure": ""}
    kind = req.get("kind", "classification")
    scattered = scatter_memory()  # noqa: F841 - held until the child exits
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
    """Two frames in one write: the result without its outputs, then the outputs' JSON."""
    result["wall_s"] = time.perf_counter() - started
    outputs = result.pop("outputs", None)
    try:
        tail = json.dumps(outputs, ensure_ascii=True, separators=(",", ":")).encode()
        body = json.dumps(result, ensure_ascii=True).encode()
    except BaseException as exc:  # noqa: BLE001
        body = json.dumps({"ok": False, "failure": f"result: {describe_error(exc)}"}).encode()
        tail = b"null"
    write_all(out_fd, framed(body) + framed(tail))
    # Wait to be killed rather than exit: tearing down a forked address space takes a
    # millisecond or two of CPU, better spent after the server has answered (it kills this
    # child then). Bounded, so a child whose server is gone does not stay behind.
    time.sleep(LINGER_S)


# ---------------------------------------------------------------- the server: reading a child


class HostGone(Exception):
    """The channel in hung up while a request ran: no one is left to answer."""


def read_child(fd: int, deadline: float, cap: int, host_fd: int = -1) -> tuple[list[bytes], str]:
    """The child's two frames: ([result, outputs], "") or ([], failure), both under one size cap.
    Stops at the second frame's end, so whatever the child left running cannot hold the answer
    back by keeping the pipe open. "host" when HOST_FD (the channel in) hangs up meanwhile: the
    host is gone, and no one will read the answer."""
    data = bytearray()
    frames: list[bytes] = []
    start = 0  # where the frame being read begins in data
    need = HEADER.size
    header_done = False
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    if host_fd >= 0:
        poller.register(host_fd, 0)  # hang-ups and errors only: a byte the host sent stays unread
    while True:
        while len(data) < need:
            left = deadline - time.perf_counter()
            if left <= 0:
                return [], "deadline"
            events = dict(poller.poll(max(1, int(left * 1000))))
            if events.get(host_fd, 0) & (select.POLLHUP | select.POLLERR | select.POLLNVAL):
                return [], "host"
            if not events.get(fd):
                continue
            chunk = os.read(fd, max(need - len(data), 1 << 16))
            if not chunk:
                return [], "eof" if not frames and not header_done else "cut"
            data += chunk
        if header_done:
            frames.append(bytes(data[start + HEADER.size:need]))
            if len(frames) == 2:
                return frames, ""
            start, header_done = need, False
            need += HEADER.size
            continue
        (size,) = HEADER.unpack(data[start:start + HEADER.size])
        if need + size > cap:
            return [], "cap"
        need += size
        header_done = True


LABEL_TYPES = frozenset({int, bool, type(None)})
DIGITS_TO_ONE = bytes.maketrans(b"[123456789", b",111111111")  # "[" reads as ",", digits as 0 or 1
DIGITS_TO_D = bytes.maketrans(b"0123456789", b"dddddddddd")


def plain_labels(raw: bytes, n_texts: int) -> bool:
    """True if raw is a JSON array of exactly n_texts non-negative integers of at most 18 digits,
    with no spaces: what a classification child sends for int labels. Byte checks only (half of
    what parsing costs), so the common answer is not parsed on this side."""
    if raw[:1] != b"[" or raw[-1:] != b"]" or raw[1:-1].strip(b"0123456789,"):
        return False
    if raw == b"[]":
        return n_texts == 0
    if raw[:2] == b"[," or raw[-2:] == b",]" or raw.count(b",") + 1 != n_texts:
        return False
    ones = raw.translate(DIGITS_TO_ONE)  # an empty item, or a number with a leading zero:
    if b",," in ones or b",00" in ones or b",01" in ones:
        return False
    return b"d" * 19 not in raw.translate(DIGITS_TO_D)


def clean_outputs(raw: bytes, n_texts: int, kind: str, errors: dict[str, str]) -> bytes | str:
    """The outputs' JSON for the host, or a failure (a str). The child's own bytes when they are
    ASCII JSON for n_texts exact labels (what an honest child always sends): checked by bytes
    (plain_labels) or by parsing them, and passed on without encoding them again; anything else
    is rebuilt output by output."""
    if plain_labels(raw, n_texts):
        return raw
    try:
        outputs = json.loads(raw.decode("ascii"))
    except (ValueError, RecursionError, MemoryError):  # UnicodeDecodeError is a ValueError
        return "crash: the child's outputs were not valid JSON"
    if type(outputs) is not list or len(outputs) != n_texts:
        got = len(outputs) if type(outputs) is list else type(outputs).__name__
        return f"crash: the child's result held {got} outputs for {n_texts} texts"
    if set(map(type, outputs)) <= LABEL_TYPES:
        return raw
    clean = []
    for i, out in enumerate(outputs):
        t = type(out)
        if out is None or t is int or t is bool or (
            kind == "classification" and t is str and len(out) <= MAX_LABEL_CHARS and valid_unicode(out)
        ):
            clean.append(out)
            continue
        if kind == "spans" and t is list and all(
            type(s) is list and len(s) == 3 and type(s[0]) is int and type(s[1]) is int
            and type(s[2]) is str and valid_unicode(s[2]) for s in out
        ):
            clean.append(out)
            continue
        clean.append(None)
        errors.setdefault(str(i), "type: the child's result held an output that is not a label")
    return json.dumps(clean, ensure_ascii=True, separators=(",", ":")).encode()


def clean_result(raw, outputs: bytes, n_texts: int, kind: str) -> tuple[dict, bytes | None]:
    """The child's answer rebuilt field by field (only known keys, exact types, clean text), and
    the outputs' JSON to splice into it (None when the run failed)."""
    if type(raw) is not dict:
        return {"ok": False, "failure": "crash: the child's result was not an object"}, None
    failure = raw.get("failure")
    failure = clean_text(failure[:2000]) if type(failure) is str else ""
    if raw.get("ok") is not True:
        return {"ok": False, "failure": failure or "crash: the child reported a failure with no reason"}, None
    errors: dict[str, str] = {}
    raw_errors = raw.get("errors")
    if type(raw_errors) is dict:
        for key, msg in raw_errors.items():
            if type(key) is str and key.isdigit() and int(key) < n_texts and type(msg) is str:
                errors[key] = clean_text(msg[:1000])
    tail = clean_outputs(outputs, n_texts, kind, errors)
    if type(tail) is str:
        return {"ok": False, "failure": tail}, None
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
    return {"ok": True, "errors": errors, "properties": properties, "failure": failure}, tail


def answer_body(reply: dict, outputs: bytes | None = None) -> bytes:
    """One JSON object for the host: the reply, with the outputs' JSON spliced in as is."""
    body = json.dumps(reply, ensure_ascii=True).encode()
    if outputs is None:
        return body
    return body[:-1] + b', "outputs": ' + outputs + b"}"


# ---------------------------------------------------------------- the server


class Child:
    """A child forked ahead of its request: a spare, idle on its request pipe, until run_request()
    hands it one. kill() stops it and all it left in its process group at once; settle() waits for
    it and, as init, kills and reaps every other process in the namespace and wipes the scratch
    directories."""

    def __init__(self, server: "Server"):
        req_r, self.req_w = os.pipe()
        self.res_r, res_w = os.pipe()
        try:
            fcntl.fcntl(self.req_w, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        except OSError:  # over the user's pipe quota: the default size works too, in more writes
            pass
        try:
            pid = os.fork()
        except OSError:  # the pids limit, still full of processes on their way out
            for fd in (req_r, self.req_w, self.res_r, res_w):
                os.close(fd)
            raise
        if pid == 0:
            try:
                os.setsid()
                spare_main(req_r, res_w)
            finally:
                os._exit(0)
        os.close(req_r)
        os.close(res_w)
        self.server = server
        self.pid = pid
        self.killed = False
        self.status: int | None = None

    def hand(self, body: bytes) -> None:
        """Give the spare its request (OSError if it is gone) and close its request pipe."""
        try:
            write_all(self.req_w, framed(body))
        finally:
            os.close(self.req_w)
            self.req_w = -1

    def close(self) -> None:
        for fd in (self.req_w, self.res_r):
            if fd >= 0:
                os.close(fd)
        self.req_w = self.res_r = -1

    def kill(self) -> None:
        if not self.killed:
            self.killed = True
            for kill in (os.killpg, os.kill):  # the child's group (all it left behind), then the child
                try:
                    kill(self.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass

    def settle(self, spare: "Child | None" = None) -> int:
        """Kill and reap this child; as init, clear the namespace and wipe the scratch directories.
        With a spare (forked after doom_all(): see Server.recycle), everything but the spare."""
        if self.status is None:
            self.kill()
            self.close()
            self.status = self.server.wait(self.pid)
            if self.server.init:
                cleared = sweep(self.server.scratch) if spare is None else sweep_around(spare.pid, self.server)
                self.server.healthy = cleared and self.server.healthy
        return self.status


class Server:
    def __init__(self, scratch: list[str]):
        self.scratch = scratch
        self.init = os.getpid() == 1  # the init of a PID namespace: everything else in it is a skill's
        # /proc shows this namespace (a container's does; `unshare -p` without a new /proc does not)
        self.own_proc = self.init and proc_pid() == 1
        self.healthy = True
        self.reaped: dict[int, int] = {}  # the spare's exit status, if a sweep reaped it
        self.ahead: Child | None = None  # in a container, the spare forked while a request runs
        self.spent: Child | None = None  # a child recycle() doomed, reaped by ready()
        self.channel_in = -1  # the host's channel, watched for a hang-up while a request runs

    def wait(self, pid: int) -> int:
        try:
            return os.waitpid(pid, 0)[1]
        except ChildProcessError:  # reaped already by a sweep
            return self.reaped.pop(pid, 0)

    def fork_ahead(self) -> None:
        """While a request runs (in a container only): fork the spare for the next one now, so that
        no fork sits between an answer and the next request (see recycle)."""
        try:
            self.ahead = Child(self)
        except OSError:  # the pids limit: recycle() forks one the usual way
            self.ahead = None

    def recycle(self, child: Child) -> "Child | None":
        """After an answer: doom the child and have the next spare (None if the server must exit).

        In a container the next spare was usually forked while the request ran (fork_ahead; never
        for a request that leaves texts to hold, so it has every text HELD has). If /proc lists no
        one but this server, the child and that spare, the child is doomed (SIGKILL: it never runs user code again) and its
        reaping is left to ready(), which runs before the spare is handed a request: the child's
        teardown (a millisecond or two for its address space) then overlaps the host's round trip
        rather than delaying the next request.

        Otherwise every process in the namespace is doomed now: the child's process group gets
        SIGKILL, and if /proc lists any process besides this server and the child (one that left
        the group), kill(-1) dooms them all at once (it walks every process on the machine: too
        slow to make it a habit; it reaches a spare forked ahead too). A process with SIGKILL
        pending never runs user code again, and one being forked while the signal is delivered
        gets it too. Then a spare is forked, then the doomed are reaped until /proc lists no one
        but this server and the spare. Elsewhere (not a container) the namespace is cleared first
        (kill(-1) until no one is left) and the spare forked after."""
        spare = None
        ahead, self.ahead = self.ahead, None
        if child.status is None and self.own_proc:
            child.kill()
            if alone_with(child.pid, ahead.pid if ahead is not None else 0):
                if ahead is not None and self.healthy:
                    self.spent = child
                    return ahead
            elif not doom_all():
                self.healthy = False
        if ahead is not None:  # doomed by kill(-1), or by the sweep of a child settled already
            ahead.kill()  # (and if the server is not healthy, killed here): reaped with the rest
            ahead.close()
        if child.status is None and self.own_proc and self.healthy:
            try:
                spare = Child(self)
            except OSError:  # no pid free until the doomed are reaped: clear first, fork after
                pass
        child.settle(spare)
        if spare is None and self.healthy:
            spare = self.fork_spare()
        if not self.healthy and spare is not None:
            spare.settle()
            return None
        return spare

    def ready(self, spare: Child) -> "Child | None":
        """Before a spare is handed a request: reap the child recycle() doomed and sweep the
        namespace around the spare. That spare was forked ahead and lived beside a skill of the
        same user, which may have signalled it: it is used only if, now that no process of the
        skill is left to send anything, it is alive, not stopped and has no signal pending
        (fit_spare). Otherwise it goes too, and a fresh one is forked. None: the server must exit."""
        if tampered():  # every child forked from now on would inherit what a skill changed
            self.healthy = False
        spent, self.spent = self.spent, None
        if spent is None:
            if not self.healthy:
                spare.settle()
                return None
            return spare
        spent.settle(spare)
        if self.healthy and fit_spare(spare.pid):
            return spare
        spare.settle()  # as init: kill(-1) until no one is left, wipe the scratch directories
        return self.fork_spare() if self.healthy else None

    def fork_spare(self) -> "Child | None":
        try:
            return Child(self)
        except OSError:  # with nothing of a skill's left (the namespace is clear), the server cannot go on
            self.healthy = False
            return None

    def run_request(self, head: dict, parcel: list[bytes], child: Child, held_after: list[str],
                    ahead: bool) -> bytes:
        """Hand one request to the spare child and return the answer for the host. The server parses
        only the head; the child alone parses the request. parcel: [the request's body], which this
        takes (so that, once handed over, no reference to it is left for a spare forked ahead to
        inherit). held_after: the keys of the texts the server holds once this request is done, for
        the host. ahead: fork the next spare while the request runs (see recycle)."""
        request_id = head.get("id")

        def answer(reply: dict, outputs: bytes | None = None) -> bytes:
            reply["id"] = request_id  # echoed, so the host can tell it answers its question
            reply["texts_held"] = held_after
            return answer_body(reply, outputs)

        try:
            limits = {**DEFAULT_LIMITS, **(head.get("limits") or {})}
            wall_s, cap = float(limits["wall_s"]), int(limits["result_bytes"])
            n_texts = int(head.get("n", 0))
            kind = str(head.get("kind", "classification"))
        except (TypeError, ValueError) as exc:
            return answer({"ok": False, "failure": f"protocol: a bad request head ({str(exc)[:200]})"})
        started = time.perf_counter()
        body = parcel.pop()
        try:
            child.hand(body)
            del body
            if ahead:
                self.fork_ahead()
            frames, why = read_child(child.res_r, started + wall_s, cap, self.channel_in)
        except OSError:  # the spare died before it took its request
            frames, why = [], "eof"
        wall = time.perf_counter() - started
        if why == "host":  # the host is gone (killed, or closed the channel): stop the skill, then the server
            child.kill()
            raise HostGone()

        if why == "deadline":
            failure = f"timeout: the run passed its {limits['wall_s']} s deadline and was killed"
            return answer({"ok": False, "failure": failure, "wall_s": wall, "timed_out": True})
        if why == "cap":
            return answer({"ok": False, "failure": f"output: the result passed the {cap} byte cap", "wall_s": wall})
        if not why:  # it has written its result: its teardown may start now, beside the answer
            child.kill()
        if why in ("eof", "cut"):  # the child is gone (or going): its exit status says why
            status = child.settle()
            if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGPROF:  # the clock's watchdog
                failure = ("timeout: a call (or the module body) ran past its bound and did not stop (a built-in "
                           "operation that loops, or code that catches the clock's exception): the child was stopped")
                return answer({"ok": False, "failure": failure, "wall_s": wall, "timed_out": True})
            said = "the child died with no result" if why == "eof" else "the child's result was cut short"
            return answer({"ok": False, "failure": f"crash: {said} ({describe_status(status)})", "wall_s": wall})
        try:
            raw = json.loads(frames[0])
        except (ValueError, RecursionError, MemoryError):
            return answer({"ok": False, "failure": "crash: the child's result was not valid JSON", "wall_s": wall})
        result, outputs = clean_result(raw, frames[1], n_texts, kind)
        result["wall_s"] = wall
        if result.get("failure", "").startswith(TAMPERED):  # no verdict on this skill: the host runs it elsewhere
            self.healthy = False
            result["gave_up"] = True
        return answer(result, outputs)

    def serve(self) -> None:
        channel_in, channel_out = os.dup(0), os.dup(1)
        self.channel_in = channel_in
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)  # a stray print in the harness itself cannot corrupt the channel
        not_dumpable()
        write_frame(channel_out, {"ready": True, "python": sys.version.split()[0], "init": self.init})
        load_hypothesis()  # while the host gets its first request ready
        for name in PRELOADED:  # the copies every child would otherwise make
            copy_of(sys.modules[name])
        gc.freeze()  # children's collectors leave what is here now alone: fewer copy-on-write faults
        BASELINE.update(process_state())  # before the first fork: every child compares its own with it
        child = self.fork_spare()
        try:
            while child is not None:
                try:
                    head = read_body(channel_in, MAX_HEAD)
                    if head is None:
                        return
                    head = json.loads(head)
                    if type(head) is not dict:
                        raise ValueError("a request's head is an object")
                except (ValueError, RecursionError) as exc:  # out of step: the host starts a fresh worker
                    write_frame(channel_out, {"ok": False, "failure": f"protocol: {str(exc)[:200]}"})
                    return
                if head.get("op") == "ping":
                    write_frame(channel_out, {"ok": True, "pong": True, "id": head.get("id"),
                                              "hypothesis": getattr(hypothesis, "__version__", None)})
                    continue
                try:
                    body = read_body(channel_in) if head.get("op") == "run" else None
                except ValueError as exc:
                    write_frame(channel_out, {"ok": False, "failure": f"protocol: {exc}"})
                    return
                if body is None:
                    if head.get("op") != "run":
                        write_frame(channel_out, {"ok": False, "failure": "protocol: an unknown op"})
                    return
                key = head.get("texts_key") if type(head.get("texts_key")) is str else ""
                if key and head.get("texts_sent") is False and key not in HELD:  # the spare stays unused
                    write_frame(channel_out, {"ok": False, "id": head.get("id"), "failure": NOT_HELD,
                                              "texts_missing": True, "texts_held": list(HELD)})
                    continue
                keep = key if key and key not in HELD and len(body) <= MAX_HELD_BYTES else ""
                if key in HELD:
                    HELD.move_to_end(key)
                held_after = (list(HELD) + [keep])[-MAX_HELD:] if keep else list(HELD)
                child = self.ready(child)
                if child is None:
                    write_frame(channel_out, {"ok": False, "id": head.get("id"),
                                              "failure": "sandbox: the harness could not clear what a skill left",
                                              "gave_up": True})  # a child's answer never holds this key
                    return
                # a request that leaves texts to hold keeps its body here (hold() reads it after the
                # answer) and gets no spare forked ahead: that one would lack the texts
                kept = body if keep else None
                parcel = [body]
                del body
                try:
                    answer = self.run_request(head, parcel, child, held_after, self.own_proc and not keep)
                except HostGone:
                    return
                try:
                    write_all(channel_out, framed(answer))
                finally:
                    if kept is not None:
                        hold(keep, kept, head.get("n"))  # before the next fork, so the spare has them
                    del kept  # not held (and copied into the next child) while idle
                    spent, child = child, None
                    child = self.recycle(spent)  # while the host reads the answer
                if child is None:
                    return  # the host sees the channel close and starts a fresh worker
        finally:
            for other in (self.ahead, self.spent):
                if other is not None:
                    other.kill()
            if child is not None:
                child.settle()
        # not healthy: something a skill left could not be cleared; exit, and the host starts a fresh one


def hold(key: str, body: bytes, n_texts) -> None:
    """Keep a request's texts under the host's key (the oldest out past MAX_HELD). A body that does
    not parse to n_texts strings leaves nothing: the host then sends the texts again."""
    try:
        texts = json.loads(body).get("texts")
    except (ValueError, RecursionError, MemoryError, AttributeError):
        return
    if type(texts) is not list or len(texts) != n_texts or not all(type(t) is str for t in texts):
        return
    HELD[key] = texts
    while len(HELD) > MAX_HELD:
        HELD.popitem(last=False)
    gc.freeze()  # the new list too: a child's collector leaves it alone


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


def fit_spare(pid: int) -> bool:
    """True if a spare is alive, not stopped, and has no signal pending: nothing a skill that ran
    beside it sent reached it. (Any signal a spare gets kills it, stops it, or is ignored.)"""
    try:
        fd = os.open(f"/proc/{pid}/status", os.O_RDONLY)
        try:
            data = os.read(fd, 1 << 14)
        finally:
            os.close(fd)
    except OSError:
        return False
    fields = {}
    for line in data.split(b"\n"):
        name, _, value = line.partition(b":")
        if name in (b"State", b"SigPnd", b"ShdPnd"):
            fields[name] = value.strip()
    try:
        return (fields[b"State"][:1] in (b"R", b"S")
                and int(fields[b"SigPnd"], 16) == 0 and int(fields[b"ShdPnd"], 16) == 0)
    except (KeyError, ValueError):
        return False


def alone_with(*pids: int) -> bool:
    """True if /proc lists no process but this one and pids."""
    allowed = {os.getpid(), *pids}
    try:
        return all(int(p) in allowed for p in os.listdir("/proc") if p.isdigit())
    except OSError:
        return False


def doom_all() -> bool:
    """SIGKILL every process in the namespace but this one, at once; False if not allowed."""
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:  # no one left
        pass
    except PermissionError:
        return False
    return True


def sweep_around(keep: int, server: "Server") -> bool:
    """After doom_all() and the spare's fork: reap until /proc lists only this server and the spare
    (whatever is still listed gets SIGKILL by pid, though doom_all() reached it already), then wipe
    the scratch directories. False if that takes too long."""
    end = time.monotonic() + SWEEP_S
    me = os.getpid()
    while True:
        status = reap(keep)
        if status is not None:
            server.reaped[keep] = status
        others = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (me, keep)]
        if not others:
            break
        if time.monotonic() > end:
            return False
        for pid in others:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.0002)
    ok = True
    for path in server.scratch:
        ok = wipe(path) and ok
    return ok


def proc_pid() -> int:
    """This process's pid as /proc sees it (0 if /proc is not there)."""
    try:
        return int(os.readlink("/proc/self"))
    except (OSError, ValueError):
        return 0


def reap(keep: int = 0) -> int | None:
    """Reap every child that has exited; the exit status of `keep` if it was one of them."""
    kept = None
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return kept
        if pid == 0:
            return kept
        if pid == keep:
            kept = status


def wipe(path: str) -> bool:
    """Empty a scratch directory (not the directory itself); True if it is empty afterwards."""
    try:
        entries = os.listdir(path)
    except FileNotFoundError:
        return True  # nothing there to wipe
    except OSError:  # out of fds, say: what it holds is unknown
        return False
    for name in entries:
        remove_tree(os.path.join(path, name))
    try:
        return not os.listdir(path)
    except OSError:
        return False


def remove_tree(path: str) -> None:
    """Remove a file or a directory and all it holds, depth first without recursion (a skill may nest
    directories deeper than Python's recursion limit)."""
    stack = [(path, False)]
    while stack:
        where, emptied = stack.pop()
        try:
            mode = os.lstat(where).st_mode
        except OSError:
            continue
        if not stat.S_ISDIR(mode):
            try:
                os.unlink(where)
            except OSError:
                pass
            continue
        if emptied:
            try:
                os.rmdir(where)
            except OSError:
                pass
            continue
        try:
            os.chmod(where, 0o700)  # a skill may have made it unreadable
            names = os.listdir(where)
        except OSError:
            names = []
        stack.append((where, True))
        stack.extend((os.path.join(where, name), False) for name in names)


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
            ballast = scatter_memory()  # noqa: F841 - this worker's own layout under all that comes after
            Server(scratch).serve()
            return 0
    sys.stderr.write("usage: harness.py warm | serve [--scratch DIR]...\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
