"""The adversarial suite's programs: each a hostile skill, with the outcome asserted per layer.

Layers (see test_adversarial.py):
  static     sandbox.static.check_source: the reason code it rejects the program with, or
             None where the program gets past the static gate (then the layers below must hold)
  guarded    the harness's own guards (guarded builtins, import allow-list with module copies,
             no `_`/frame attributes, rlimits, clock), static gate off, in a Docker container
  contained  the container alone: request flag trusted_builtins gives the skill full builtins and
             imports, so what stops it is the container (no network, read-only root, noexec
             tmpfs, nobody, no capabilities, memory/pids limits) and the harness's process
             handling (fork per request, clock, deadline, result cap, killing what is left)
  local      the local backend (no container), guards on: only programs whose outcome comes
             from what local has (rlimits, the clock, the deadline, the result cap, fds to
             /dev/null); None = not run locally
  local_open the local backend with guards off, only for programs that cannot harm the host
             and whose outcome comes from `unshare` (no network; a PID namespace): None = not run

Outcomes: Pred(values): these predictions and no errors; Err(pattern): one text, its error
matches; Fail(pattern): the whole run failed with a matching reason; TimedOut(): stopped by
the clock or the deadline (which of the two can depend on how starved the CPU is).
Patterns are full matches (re.fullmatch).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from sandbox.backend import Limits

# Tight limits for hostile programs, so the suite stays fast on 2 cores: QUICK where the
# expected outcome is the clock or the deadline, HOSTILE (a looser clock, so that a loaded
# machine cannot turn a MemoryError or an errno into a timeout) everywhere else.
HOSTILE = Limits(wall_s=4.0, cpu_s=10, mem_mb=160, call_s=1.5, load_s=1.5, result_bytes=1 << 20)
QUICK = Limits(wall_s=2.5, cpu_s=10, mem_mb=160, call_s=0.25, load_s=1.0, result_bytes=1 << 20)

TIMEOUT_ERR = r"timeout: one call ran past its time bound"
SHARED_REFUSED = (r"exception: AttributeError: a skill may set attributes only on its own functions, classes, their "
                  r"instances and modules, not on a ")
MEMORY_OR_TIMEOUT = r"memory: MemoryError|timeout: one call ran past its time bound"  # whichever bound comes first
DEADLINE = r"timeout: the run passed its 2\.5 s deadline and was killed"
# the clock's CPU watchdog (a call that never returns to Python, or swallows the clock's exception),
# with a deadline far enough off that only the watchdog can be what stopped it
WATCHDOG = Limits(wall_s=30.0, cpu_s=60, mem_mb=160, call_s=0.25, load_s=1.0, result_bytes=1 << 20)
STOPPED = (r"timeout: a call \(or the module body\) ran past its bound and did not stop \(a built-in operation "
           r"that loops, or code that catches the clock's exception\): the child was stopped")


def import_refused(module: str) -> "Fail":
    return Fail(rf"load: exception: ImportError: import of '{module}' is not allowed in a skill")


def forbidden(attribute: str) -> "Fail":
    return Fail(rf"load: forbidden: attribute '{attribute}' is not allowed in a skill \(line \d+\)")


def class_hook(name: str) -> str:
    return (rf"exception: TypeError: '{name}' is not allowed in a skill: a hook of class creation or isinstance "
            r"reaches classes the skill did not make")


def made_class(what: str, method: str) -> str:
    return (rf"exception: TypeError: a skill may not make a {what} with its own {method}: standard-library code "
            r"calls it on what a skill hands over, also where every program shares it \(re's caches, the ABCs'\)")


def foreign_base(what: str, base: str) -> str:
    return (rf"exception: TypeError: a skill's {what} may not also inherit from {re.escape(base)}: standard-library "
            r"code would read its values through that class's special methods")


def slot_refused(name: str) -> str:
    return (rf"exception: TypeError: a slot named '{name}' is not allowed in a skill: it would stand for the "
            rf"class's own {name}, which the interpreter reads")


def dunder_name(name: str) -> "Fail":
    return Fail(rf"load: forbidden: the name '{name}' is not allowed in a skill \(line \d+\): names with two "
                r"leading underscores reach the harness's builtins and module attributes")


def no_builtin(name: str) -> "Err":
    return Err(rf"exception: NameError: name '{name}' is not defined")


@dataclass(frozen=True)
class Pred:
    values: tuple


@dataclass(frozen=True)
class Err:
    pattern: str


@dataclass(frozen=True)
class Fail:
    pattern: str


@dataclass(frozen=True)
class TimedOut:
    pass


Outcome = Pred | Err | Fail | TimedOut


@dataclass(frozen=True)
class Program:
    name: str
    what: str
    code: str
    static: str | None  # reason code of check_source, None: it passes the static gate
    guarded: Outcome
    contained: Outcome
    local: Outcome | None = None
    local_open: Outcome | None = None
    local_open_needs: str = ""  # "network" or "pid": what the local backend must have to run it
    texts: tuple[str, ...] = ("a",)
    kind: str = "classification"
    limits: Limits = HOSTILE
    tags: tuple[str, ...] = field(default_factory=tuple)


PROGRAMS: list[Program] = [
    # ------------------------------------------------------------ processes
    Program(
        "fork_bomb", "forks until the pids limit, forever",
        "import os\n\n\ndef solve(text):\n    while True:\n        try:\n            os.fork()\n        except OSError:\n            pass\n",
        static="import", guarded=import_refused("os"), contained=TimedOut(), local=import_refused("os"),
        limits=QUICK,
    ),
    Program(
        "fork_escape_session", "a grandchild in a session of its own (out of killpg's reach) spins forever",
        "import os\n\n\ndef solve(text):\n    if os.fork() == 0:\n        os.setsid()\n        if os.fork() == 0:\n"
        "            while True:\n                pass\n        os._exit(0)\n    return 1\n",
        static="import", guarded=forbidden("_exit"), contained=Pred((1,)),
        local_open=Pred((1,)), local_open_needs="pid",
    ),
    Program(
        "threads_left_running", "starts threads that outlive solve: one spins, one keeps writing files into /tmp",
        "import threading\nimport time\n\n\ndef spin():\n    while True:\n        time.sleep(0.001)\n\n\n"
        "def litter():\n    i = 0\n    while True:\n        i += 1\n        open('/tmp/litter-' + str(i), 'w').close()\n"
        "        time.sleep(0.001)\n\n\ndef solve(text):\n    for target in (spin, litter):\n"
        "        threading.Thread(target=target).start()\n    time.sleep(0.05)\n    return 1\n",
        static="import", guarded=import_refused("threading"), contained=Pred((1,)),
    ),
    Program(
        "kill_parent", "SIGKILL and SIGSTOP to its parent (the harness), then kill(-1)",
        "import os\nimport signal\n\n\ndef solve(text):\n    parent = os.getppid()\n    said = []\n"
        "    for target, sig in ((parent, signal.SIGKILL), (parent, signal.SIGSTOP), (-1, signal.SIGKILL)):\n"
        "        try:\n            os.kill(target, sig)\n            said.append('sent')\n"
        "        except OSError as exc:\n            said.append(type(exc).__name__)\n"
        "    raise RuntimeError('parent ' + str(parent) + ': ' + ', '.join(said))\n",
        # the harness is the container's init: the kernel drops its signals. kill(-1) finds no one
        # but the spare the harness forked for the next request while this one runs (it is
        # replaced: the next candidate is unharmed, which the test checks)
        static="import", guarded=forbidden("__name__"),
        contained=Err(r"exception: RuntimeError: parent 1: sent, sent, (sent|ProcessLookupError)"),
    ),
    Program(
        "stop_spare", "SIGSTOP to every other process: the spare forked for the next request",
        "import os\nimport signal\nimport time\n\n\ndef solve(text):\n    stopped = 0\n"
        "    for _ in range(500):  # the spare is forked just after this request starts: wait for it\n"
        "        for entry in os.listdir('/proc'):\n"
        "            if entry.isdigit() and int(entry) not in (1, os.getpid()):\n"
        "                os.kill(int(entry), signal.SIGSTOP)\n                stopped += 1\n"
        "        if stopped:\n            return 1\n        time.sleep(0.001)\n"
        "    return 0\n",
        # the harness forks the next request's spare while this one runs; a spare that got a
        # signal is not used (the test's next candidate would hang on a stopped one)
        static="import", guarded=import_refused("os"), contained=Pred((1,)),
    ),
    Program(
        "sys_exit", "sys.exit inside solve",
        "import sys\n\n\ndef solve(text):\n    sys.exit(0)\n",
        static="import", guarded=import_refused("sys"), contained=Err(r"exception: SystemExit: 0"),
    ),
    Program(
        "getattr_str_subclass", "a str subclass as the attribute name, past getattr's name check, to the harness's globals",
        "class S(str):\n    pass\n\n\ndef solve(text):\n    found = getattr(solve, S('__globals__'))\n"
        "    return 1 if 'S' in found else 0\n",
        static=None, guarded=Err(r"exception: TypeError: attribute name must be a str, not S"), contained=Pred((1,)),
        local=Err(r"exception: TypeError: attribute name must be a str, not S"),
    ),
    Program(
        "format_field_lookup", "str.format's template looks up a dunder with the real getattr",
        "def solve(text):\n    shown = '{0.__globals__}'.format(solve)\n    return 1 if 'solve' in shown else 0\n",
        static="restricted", guarded=forbidden("format"), contained=Pred((1,)), local=forbidden("format"),
    ),
    Program(
        "system_exit", "raise SystemExit (no import needed)",
        "def solve(text):\n    raise SystemExit(3)\n",
        static=None, guarded=Err(r"exception: SystemExit: 3"), contained=Err(r"exception: SystemExit: 3"),
        local=Err(r"exception: SystemExit: 3"),
    ),
    Program(
        "os_exit", "os._exit: no result at all",
        "import os\n\n\ndef solve(text):\n    os._exit(0)\n",
        static="import", guarded=forbidden("_exit"),
        contained=Fail(r"crash: the child died with no result \(exit status 0\)"),
    ),
    Program(
        "subprocess_run", "runs a program: it exists, but as nobody, in the container",
        "import subprocess\n\n\ndef solve(text):\n    done = subprocess.run(['id', '-u'], capture_output=True, text=True)\n"
        "    raise RuntimeError('uid ' + done.stdout.strip())\n",
        static="import", guarded=import_refused("subprocess"), contained=Err(r"exception: RuntimeError: uid 65534"),
    ),
    Program(
        "exec_from_tmp", "copies a binary to /tmp and runs it (noexec)",
        "import os\nimport shutil\nimport subprocess\n\n\ndef solve(text):\n    shutil.copy('/bin/true', '/tmp/t')\n"
        "    os.chmod('/tmp/t', 0o755)\n    subprocess.run(['/tmp/t'])\n    return 1\n",
        static="import", guarded=import_refused("os"),
        contained=Err(r"exception: PermissionError: \[Errno 13\] Permission denied: '/tmp/t'"),
    ),
    Program(
        "os_system", "os.system writing to /etc",
        "import os\n\n\ndef solve(text):\n    status = os.system('echo pwned > /etc/pwned')\n"
        "    raise RuntimeError('status ' + str(status))\n",
        static="import", guarded=import_refused("os"), contained=Err(r"exception: RuntimeError: status [1-9]\d*"),
    ),
    # ------------------------------------------------------------ memory, time, recursion
    Program(
        "memory_bomb", "grows a list of 1 MB strings (stopped by RLIMIT_AS)",
        "def solve(text):\n    hoard = []\n    while True:\n        hoard.append('x' * 10**6)\n",
        static=None, guarded=Err(r"memory: MemoryError"), contained=Err(r"memory: MemoryError"),
        local=Err(r"memory: MemoryError"),
    ),
    Program(
        "memory_bomb_cgroup", "asks for 4 GB of address space, then fills it: the container's memory cgroup stops it",
        "def solve(text):\n    hoard = []\n    while True:\n        hoard.append(b'x' * 10**7)\n",
        static=None,
        guarded=Fail(r"crash: the child died with no result \(killed by signal 9 \(memory limit\?\)\)"),
        contained=Fail(r"crash: the child died with no result \(killed by signal 9 \(memory limit\?\)\)"),
        limits=Limits(wall_s=10, cpu_s=10, mem_mb=4096, call_s=5, load_s=1.0, result_bytes=1 << 20),
    ),
    Program(
        "infinite_loop", "while True: pass",
        "def solve(text):\n    while True:\n        pass\n",
        static=None, guarded=Err(TIMEOUT_ERR), contained=Err(TIMEOUT_ERR), local=Err(TIMEOUT_ERR),
        limits=QUICK,
    ),
    Program(
        "swallowing_loop", "catches the clock's exception and carries on: only the deadline ends it",
        "def solve(text):\n    while True:\n        try:\n            while True:\n                pass\n"
        "        except BaseException:\n            pass\n",
        static=None, guarded=Fail(STOPPED), contained=Fail(STOPPED), local=Fail(STOPPED),
        limits=WATCHDOG,
    ),
    Program(
        "loop_in_c", "one built-in call that never returns to Python, where the clock's handler runs",
        "import collections\nimport itertools\n\n\ndef solve(text):\n"
        "    collections.deque(itertools.count(), maxlen=0)\n    return 1\n",
        static=None, guarded=Fail(STOPPED), contained=Fail(STOPPED), local=Fail(STOPPED), limits=WATCHDOG,
    ),
    Program(
        "loop_in_c_at_load", "the same loop in the module body",
        "import collections\nimport itertools\n\ncollections.deque(itertools.count(), maxlen=0)\n\n\n"
        "def solve(text):\n    return 1\n",
        static=None, guarded=Fail(STOPPED), contained=Fail(STOPPED), local=Fail(STOPPED), limits=WATCHDOG,
    ),
    Program(
        "regex_backtracking", "a regex that backtracks for ever: the engine loops in C, but looks at signals",
        "import re\n\n\ndef solve(text):\n    return 1 if re.match(r'(a+)+$', 'a' * 60 + 'b') else 0\n",
        static=None, guarded=Err(TIMEOUT_ERR), contained=Err(TIMEOUT_ERR), local=Err(TIMEOUT_ERR), limits=QUICK,
    ),
    Program(
        "module_level_loop", "loops in the module body, before solve exists",
        "while True:\n    pass\n\n\ndef solve(text):\n    return 1\n",
        static=None,
        guarded=Fail(r"load: timeout: the module body ran past its 1\.0 s bound"),
        contained=Fail(r"load: timeout: the module body ran past its 1\.0 s bound"),
        local=Fail(r"load: timeout: the module body ran past its 1\.0 s bound"),
        limits=QUICK,
    ),
    Program(
        "busy_wait", "sleeps past the bound without time: a busy wait",
        "def solve(text):\n    n = 0\n    for _ in range(10**12):\n        n += 1\n    return 1\n",
        static=None, guarded=Err(TIMEOUT_ERR), contained=Err(TIMEOUT_ERR), local=Err(TIMEOUT_ERR),
        limits=QUICK,
    ),
    Program(
        "sleep_escape", "time.sleep(30) through an import the guard refuses",
        "import time\n\n\ndef solve(text):\n    time.sleep(30)\n    return 1\n",
        static="import", guarded=import_refused("time"), contained=Err(TIMEOUT_ERR),
        limits=QUICK,
    ),
    Program(
        "signal_ignores_deadline", "ignores SIGALRM, stops the timer, ignores SIGTERM, spins",
        "import signal\n\n\ndef solve(text):\n    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
        "    signal.setitimer(signal.ITIMER_REAL, 0)\n    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "    while True:\n        pass\n",
        static="import", guarded=import_refused("signal"), contained=Fail(f"{DEADLINE}|{STOPPED}"),  # whichever first
        limits=QUICK,
    ),
    Program(
        "deep_recursion", "recursion without end",
        "def solve(text):\n    return solve(text + 'x')\n",
        static=None, guarded=Err(r"exception: RecursionError"), contained=Err(r"exception: RecursionError"),
        local=Err(r"exception: RecursionError"),
    ),
    Program(
        "recursion_limit_lifted", "lifts the recursion limit and recurses through C (map) until the stack ends",
        "import sys\n\nsys.setrecursionlimit(10**7)\n\n\ndef deeper(n):\n    return list(map(deeper, [n + 1]))\n\n\n"
        "def solve(text):\n    return len(deeper(0))\n",
        static="import", guarded=import_refused("sys"),
        contained=Fail(r"crash: the child died with no result \(killed by signal 11 \(segfault\)\)"),
    ),
    Program(
        "rlimit_raise", "tries to lift its own address-space limit",
        "import resource\n\n\ndef solve(text):\n    inf = resource.RLIM_INFINITY\n"
        "    resource.setrlimit(resource.RLIMIT_AS, (inf, inf))\n    return 1\n",
        static="import", guarded=import_refused("resource"),
        contained=Err(r"exception: ValueError: not allowed to raise maximum limit"),
    ),
    Program(
        "regex_catastrophic", "a regex with catastrophic backtracking",
        "import re\n\n\ndef solve(text):\n    return 1 if re.match(r'(a+)+$', 'a' * 64 + 'b') else 0\n",
        static=None, guarded=TimedOut(), contained=TimedOut(), local=TimedOut(),
        limits=QUICK,
    ),
    Program(
        "laughs_bomb", "a billion laughs: 2**64 shared references, then str()",
        "def solve(text):\n    laugh = ['ha']\n    for _ in range(64):\n        laugh = [laugh, laugh]\n    return len(str(laugh))\n",
        static=None, guarded=Err(MEMORY_OR_TIMEOUT), contained=Err(MEMORY_OR_TIMEOUT),
        local=Err(MEMORY_OR_TIMEOUT),
        limits=QUICK,
    ),
    Program(
        "pickle_bomb", "unpickles a small pickle of 2**64 shared references and expands it",
        "import pickle\n\n\ndef solve(text):\n    laugh = ['ha']\n    for _ in range(64):\n        laugh = [laugh, laugh]\n"
        "    bomb = pickle.dumps(laugh)\n    assert len(bomb) < 4096\n    return len(repr(pickle.loads(bomb)))\n",
        static="import", guarded=import_refused("pickle"), contained=Err(MEMORY_OR_TIMEOUT),
        limits=QUICK,
    ),
    # ------------------------------------------------------------ output and the channel
    Program(
        "huge_stdout", "prints 20 MB",
        "def solve(text):\n    for _ in range(20):\n        print('x' * 10**6)\n    return 1\n",
        static=None, guarded=Pred((1,)), contained=Pred((1,)), local=Pred((1,)),
    ),
    Program(
        "huge_stderr", "writes 20 MB to stderr",
        "import sys\n\n\ndef solve(text):\n    for _ in range(20):\n        sys.stderr.write('y' * 10**6)\n    return 1\n",
        static="import", guarded=import_refused("sys"), contained=Pred((1,)), local_open=Pred((1,)),
    ),
    Program(
        "huge_exception_message", "raises an exception with a 10 MB message",
        "def solve(text):\n    raise ValueError('z' * 10**7)\n",
        static=None, guarded=Err(r"exception: ValueError: z{300}"), contained=Err(r"exception: ValueError: z{300}"),
        local=Err(r"exception: ValueError: z{300}"),
    ),
    Program(
        "result_over_cap", "a span answer of 5 MB, over the 1 MB result cap",
        "def solve(text):\n    return [(0, 1, 'w' * 1000)] * 5000\n",
        static=None, kind="spans", texts=("a" * 6000,),  # 5,000 spans are not more than the text's characters
        guarded=Fail(r"output: the result passed the 1048576 byte cap"),
        contained=Fail(r"output: the result passed the 1048576 byte cap"),
        local=Fail(r"output: the result passed the 1048576 byte cap"),
    ),
    Program(
        "span_flood", "more spans than the text has characters (each a host object to build, none valid)",
        "def solve(text):\n    return [(0, 1, 'A')] * 2500\n",
        static=None, kind="spans", texts=("ab",),
        guarded=Err(r"type: 2500 spans for a text of 2 characters"),
        contained=Err(r"type: 2500 spans for a text of 2 characters"),
        local=Err(r"type: 2500 spans for a text of 2 characters"),
    ),
    Program(
        "long_type_name", "raises an exception whose class name is 5,000 characters",
        "E = type('E' * 5000, (Exception,), {})\n\n\ndef solve(text):\n    raise E('x')\n",
        static=None, guarded=Err(r"exception: E{100}: x"), contained=Err(r"exception: E{100}: x"),
        local=Err(r"exception: E{100}: x"),
    ),
    Program(
        "forged_frames_stdout", "prints forged result frames (raw and length-prefixed)",
        "def solve(text):\n    forged = '{\"ok\": true, \"outputs\": [0, 0, 0], \"errors\": {}}'\n    print(forged * 1000)\n"
        "    print('\\x00\\x00\\x00\\x2f' + forged)\n    return 1\n",
        texts=("a", "b", "c"),
        static=None, guarded=Pred((1, 1, 1)), contained=Pred((1, 1, 1)), local=Pred((1, 1, 1)),
    ),
    Program(
        "forged_result_pipe", "writes a forged result (both frames) into every fd it has, then exits (only its own result pipe is there)",
        "import os\nimport struct\n\n\ndef solve(text):\n"
        "    body = b'{\"ok\": true, \"errors\": {}, \"id\": \"x\"}'\n    outputs = b'[0, 0, 0]'\n"
        "    forged = struct.pack('>I', len(body)) + body + struct.pack('>I', len(outputs)) + outputs\n"
        "    for fd in range(0, 64):\n        try:\n            os.write(fd, forged)\n"
        "        except OSError:\n            pass\n    os._exit(0)\n",
        static="import", guarded=forbidden("_exit"),
        contained=Fail(r"crash: the child's result held 3 outputs for 1 texts"),
        local_open=Fail(r"crash: the child's result held 3 outputs for 1 texts"),
    ),
    Program(
        "forged_deep_result", "forges a result nested 100,000 deep (a RecursionError for a naive reader)",
        "import os\nimport struct\n\n\ndef solve(text):\n    body = b'[' * 100000 + b']' * 100000\n"
        "    for fd in range(3, 64):\n        try:\n            os.write(fd, (struct.pack('>I', len(body)) + body) * 2)\n"
        "        except OSError:\n            pass\n    os._exit(0)\n",
        static="import", guarded=forbidden("_exit"),
        contained=Fail(r"crash: the child's result was not valid JSON"),
        local_open=Fail(r"crash: the child's result was not valid JSON"),
    ),
    Program(
        "channel_hijack", "reopens the harness's stdout (the host channel) through /proc/1/fd/1",
        "def solve(text):\n    with open('/proc/1/fd/1', 'wb') as channel:\n        channel.write(b'\\x00\\x00\\x00\\x02{}')\n    return 1\n",
        static="restricted", guarded=no_builtin("open"),
        contained=Err(r"exception: PermissionError: \[Errno 13\] Permission denied: '/proc/1/fd/1'"),
    ),
    Program(
        "unicode_breakers", "lone surrogates, NUL, U+2028 in texts and in an error message",
        "def solve(text):\n    if '\\ud800' in text:\n        raise ValueError('lone ' + text + ' \\udcff \\x00 \\u2028')\n"
        "    return len(text) % 2\n",
        texts=("\ud800", "a\x00b", "\u2028\ufeff", "\U0001f600"),
        static=None,
        guarded=Pred((None, 1, 0, 1)), contained=Pred((None, 1, 0, 1)), local=Pred((None, 1, 0, 1)),
        tags=("unicode_error",),
    ),
    Program(
        "surrogate_span_label", "a span label that is a lone surrogate (breaks UTF-8 on the host)",
        "def solve(text):\n    return [(0, 1, '\\udfff')]\n",
        kind="spans", static=None,
        guarded=Err(r"type: a span label is not valid unicode \(a lone surrogate\)"),
        contained=Err(r"type: a span label is not valid unicode \(a lone surrogate\)"),
        local=Err(r"type: a span label is not valid unicode \(a lone surrogate\)"),
    ),
    # ------------------------------------------------------------ files
    Program(
        "write_outside_tmp", "writes to the harness, to world-writable dirs of the root (/run/lock, /var/tmp) and to /",
        "def solve(text):\n    said = []\n"
        "    for path in ('/opt/skillkiln/harness.py', '/run/lock/pwned', '/var/tmp/pwned', '/pwned'):\n"
        "        try:\n            open(path, 'a').write('pwned')\n            said.append('wrote ' + path)\n"
        "        except OSError as exc:\n            said.append(str(exc.errno))\n"
        "    raise RuntimeError(' '.join(said))\n",
        static="restricted", guarded=no_builtin("open"),
        contained=Err(r"exception: RuntimeError: 13 30 30 30"),  # EACCES (not nobody's), then EROFS: the root is read-only
    ),
    Program(
        "fill_tmp", "fills /tmp with 512 kB files until the disk is full (the next candidate must find it empty)",
        "def solve(text):\n    chunk = b'x' * (512 * 1024)\n    for i in range(1000):\n"
        "        with open('/tmp/fill-' + str(i), 'wb') as f:\n            f.write(chunk)\n    return 1\n",
        static="restricted", guarded=no_builtin("open"),
        contained=Err(r"exception: OSError: \[Errno 28\] No space left on device"),
    ),
    Program(
        "fd_exhaustion", "opens files until it runs out of descriptors",
        "def solve(text):\n    files = [open('/dev/null') for _ in range(1000)]\n    return len(files)\n",
        static="restricted", guarded=no_builtin("open"),
        contained=Err(r"exception: OSError: \[Errno 24\] Too many open files: '/dev/null'"),
    ),
    Program(
        "read_shadow", "reads /etc/shadow",
        "def solve(text):\n    return len(open('/etc/shadow').read())\n",
        static="restricted", guarded=no_builtin("open"),
        contained=Err(r"exception: PermissionError: \[Errno 13\] Permission denied: '/etc/shadow'"),
    ),
    Program(
        "read_proc1_environ", "reads the harness's environment through /proc/1/environ",
        "def solve(text):\n    return len(open('/proc/1/environ').read())\n",
        static="restricted", guarded=no_builtin("open"),
        contained=Err(r"exception: PermissionError: \[Errno 13\] Permission denied: '/proc/1/environ'"),
    ),
    Program(
        "docker_socket", "connects to the host's Docker socket",
        "import socket\n\n\ndef solve(text):\n    s = socket.socket(socket.AF_UNIX)\n    s.connect('/var/run/docker.sock')\n    return 1\n",
        static="import", guarded=import_refused("socket"),
        contained=Err(r"exception: FileNotFoundError: \[Errno 2\] No such file or directory"),
    ),
    # ------------------------------------------------------------ network
    Program(
        "socket_localhost", "connects to a port the host listens on at 127.0.0.1 (the text is the port)",
        "import socket\n\n\ndef solve(text):\n    socket.create_connection(('127.0.0.1', int(text)), timeout=1).close()\n    return 1\n",
        texts=("HOST_PORT",),
        static="import", guarded=import_refused("socket"),
        contained=Err(r"exception: ConnectionRefusedError: \[Errno 111\] Connection refused"),
        local_open=Err(r"exception: OSError: \[Errno 101\] Network is unreachable"),  # a fresh netns: lo is down
        local_open_needs="network",
    ),
    Program(
        "socket_outside", "connects to 1.1.1.1:53",
        "import socket\n\n\ndef solve(text):\n    socket.create_connection(('1.1.1.1', 53), timeout=1).close()\n    return 1\n",
        static="import", guarded=import_refused("socket"),
        contained=Err(r"exception: OSError: \[Errno 101\] Network is unreachable"),
        local_open=Err(r"exception: OSError: \[Errno 101\] Network is unreachable"), local_open_needs="network",
    ),
    # ------------------------------------------------------------ escapes from the Python guards
    Program(
        "ctypes_segfault", "reads address 8 through ctypes",
        "import ctypes\n\n\ndef solve(text):\n    return ctypes.string_at(8, 1)[0]\n",
        static="import", guarded=import_refused("ctypes"),
        contained=Fail(r"crash: the child died with no result \(killed by signal 11 \(segfault\)\)"),
    ),
    Program(
        "dunder_import", "__import__('os') inside solve",
        "def solve(text):\n    return __import__('os').getuid()\n",
        static="restricted", guarded=Err(r"exception: ImportError: import of 'os' is not allowed in a skill"),
        contained=Pred((65534,)),  # it gets os, as nobody in the container
    ),
    Program(
        "private_submodule", "import re._compiler as c, then rebinds its compile for re's own use (sandbox audit)",
        "import re\nimport re._compiler as c\n\n\ndef solve(text):\n"
        "    c.compile = lambda *args, **kwargs: 'HIJACKED'\n    return 1 if re.compile('q{7}zx') == 'HIJACKED' else 0\n",
        # the copy of re leaves _compiler out, and the import fell back to the real module in sys.modules
        static="import", guarded=Fail(r"load: forbidden: a private module '_compiler' is not allowed in a skill \(line 2\)"),
        contained=Pred((1,)), local=Fail(r"load: forbidden: a private module '_compiler' is not allowed in a skill \(line 2\)"),
    ),
    Program(
        "private_submodule_call", "the guarded __import__ called by hand for re._compiler",
        "def solve(text):\n    return 1 if __import__('re._compiler', None, None, ('compile',), 0) else 0\n",
        static="restricted",
        guarded=Err(r"exception: ImportError: import of '_compiler' from 're\._compiler' is not allowed in a skill "
                    r"\(a private name\)"),
        contained=Pred((1,)), local=Err(r"exception: ImportError: import of '_compiler' "
                                                                       r"from 're\._compiler' is not allowed in a skill \(a private name\)"),
    ),
    Program(
        "importlib_trick", "importlib.import_module('os')",
        "import importlib\n\n\ndef solve(text):\n    return importlib.import_module('os').getuid()\n",
        static="import", guarded=import_refused("importlib"), contained=Pred((65534,)),
    ),
    Program(
        "module_attribute_walk", "re.enum.sys.modules['os']: no import, no underscore",
        "import re\n\n\ndef solve(text):\n    return re.enum.sys.modules['os'].getuid()\n",
        static="restricted", guarded=Err(r"exception: AttributeError: module 're' has no attribute 'enum'"),
        contained=Pred((65534,)),
    ),
    Program(
        "module_alias_walk", "the same walk through a list: the static gate cannot follow it (past the static gate)",
        "import re\n\nMODULES = [re]\n\n\ndef solve(text):\n    return MODULES[0].enum.sys.modules['os'].getuid()\n",
        static=None, guarded=Err(r"exception: AttributeError: module 're' has no attribute 'enum'"),
        contained=Pred((65534,)),
    ),
    Program(
        "formatter_escape", "string.Formatter().get_field walks '0.__class__...' with the real getattr",
        "import string\n\n\ndef solve(text):\n"
        "    found = string.Formatter().get_field('0.__class__.__base__.__subclasses__', [()], {})[0]()\n"
        "    return len(found) > 0\n",
        static="restricted", guarded=Err(r"exception: AttributeError: module 'string' has no attribute 'Formatter'"),
        contained=Pred((True,)),
    ),
    Program(
        "update_wrapper_gadget",
        "functools.update_wrapper merges a module's globals (real __builtins__ included) into the skill's",
        "import functools\nimport string\n\n\ndef solve(text):\n"
        "    functools.update_wrapper(solve, string.capwords, assigned=(), updated=('__globals__',))\n"
        "    escape = lambda: getattr(getattr((), '__cla' + 'ss__'), '__mro__')  # made now: real builtins\n"
        "    return len(escape())\n",
        static="restricted", guarded=Err(r"exception: AttributeError: module 'functools' has no attribute 'update_wrapper'"),
        contained=Pred((2,)),
    ),
    Program(
        "singledispatch_eval", "functools.singledispatch evaluates a string annotation",
        "import functools\n\nFOUND = []\n\n\ndef keep(value):\n    FOUND.append(value)\n    return int\n\n\n"
        "def solve(text):\n    @functools.singledispatch\n    def f(x):\n        return 0\n\n"
        "    def g(x: 'keep(().__class__.__mro__[1].__subclasses__())'):\n        return 1\n\n"
        "    f.register(g)\n    return len(FOUND)\n",
        # its .register is refused at load (it changes state every program shares), before singledispatch is missed
        static="restricted", guarded=Fail(r"load: forbidden: attribute 'register' is not allowed in a skill \(line 19\)"),
        contained=Pred((1,)),
    ),
    Program(
        "subclasses_walk", "().__class__.__mro__[1].__subclasses__() to os._wrap_close and system()",
        "def solve(text):\n    for cls in ().__class__.__mro__[1].__subclasses__():\n"
        "        if cls.__name__ == '_wrap_close':\n            system = cls.__init__.__globals__['system']\n"
        "            raise RuntimeError('status ' + str(system('echo pwned > /etc/pwned')))\n    return 0\n",
        static="restricted",
        guarded=Fail(r"load: forbidden: attribute '__\w+__' is not allowed in a skill \(line \d+\)"),
        contained=Err(r"exception: RuntimeError: status [1-9]\d*"),
    ),
    Program(
        "gc_reaches_harness", "gc.get_objects() finds the harness's globals: its own forked copy, with the channel closed",
        "import gc\nimport os\n\n\ndef solve(text):\n    gc.unfreeze()  # the harness froze its objects out of gc's lists\n"
        "    harness = [o for o in gc.get_objects() if type(o) is dict and 'write_frame' in o and 'Server' in o]\n"
        "    fds = sorted(int(fd) for fd in os.listdir('/proc/self/fd'))\n"
        "    raise RuntimeError('harness globals ' + str(len(harness)) + ', fds ' + str(fds))\n",
        static="import", guarded=import_refused("gc"),
        contained=Err(r"exception: RuntimeError: harness globals 1, fds \[0, 1, 2, \d+, \d+\]"),
    ),
    Program(
        "frame_walk", "a generator's gi_frame.f_back chain up to the harness's globals",
        "def solve(text):\n    def walk():\n        frame = gen.gi_frame\n        while frame is not None:\n"
        "            if 'Server' in frame.f_globals:\n                yield frame.f_globals\n            frame = frame.f_back\n\n"
        "    gen = walk()\n    harness = next(gen)\n    return int('os' in harness)\n",
        static="restricted",
        guarded=Fail(r"load: forbidden: attribute '(gi_frame|f_globals|f_back)' is not allowed in a skill \(line \d+\)"),
        contained=Pred((1,)),  # it reaches its own forked copy of the harness; the container holds
    ),
    # ------------------------------------------------------------ hostile return values
    Program(
        "hostile_eq", "returns an object whose __eq__ raises SystemExit",
        "class Liar:\n    def __eq__(self, other):\n        raise SystemExit('eq')\n\n\ndef solve(text):\n    return Liar()\n",
        static=None, guarded=Err(r"type: returned Liar, not a label"), contained=Err(r"type: returned Liar, not a label"),
        local=Err(r"type: returned Liar, not a label"),
    ),
    Program(
        "hostile_hash", "returns an object whose __hash__ never returns",
        "class Spinner:\n    def __hash__(self):\n        while True:\n            pass\n\n\ndef solve(text):\n    return Spinner()\n",
        static="restricted", guarded=Err(r"type: returned Spinner, not a label"),
        contained=Err(r"type: returned Spinner, not a label"), local=Err(r"type: returned Spinner, not a label"),
    ),
    Program(
        "hostile_bool", "returns an object whose __bool__ raises",
        "class Liar:\n    def __bool__(self):\n        raise SystemExit('bool')\n\n\ndef solve(text):\n    return Liar()\n",
        static="restricted", guarded=Err(r"type: returned Liar, not a label"),
        contained=Err(r"type: returned Liar, not a label"), local=Err(r"type: returned Liar, not a label"),
    ),
    Program(
        "hostile_index", "an int subclass with a lying __index__ and __int__: refused as it is made (a subclass of "
        "a value type may not redefine what the type defines); the container alone refuses its answers",
        "EvilInt = type('EvilInt', (int,), {'__index__': lambda self: 10**100, '__int__': lambda self: 1})\n\n\n"
        "def solve(text):\n    return EvilInt(1)\n",
        static=None, guarded=Fail("load: " + made_class("subclass of int", "__index__")),
        contained=Err(r"type: returned EvilInt, not a label"),
        local=Fail("load: " + made_class("subclass of int", "__index__")),
    ),
    Program(
        "plain_int_subclass", "returns an int subclass that redefines nothing: not a label all the same",
        "Count = type('Count', (int,), {'describe': lambda self: 'a count'})\n\n\n"
        "def solve(text):\n    return Count(1)\n",
        static=None, guarded=Err(r"type: returned Count, not a label"),
        contained=Err(r"type: returned Count, not a label"), local=Err(r"type: returned Count, not a label"),
    ),
    Program(
        "hostile_reduce", "returns an object whose __reduce__ would run code if anyone pickled it",
        "class Payload:\n    def __reduce__(self):\n        return (print, ('pickled',))\n\n\ndef solve(text):\n    return Payload()\n",
        static="restricted", guarded=Err(r"type: returned Payload, not a label"),
        contained=Err(r"type: returned Payload, not a label"), local=Err(r"type: returned Payload, not a label"),
    ),
    Program(
        "hostile_metaclass_name", "a class whose metaclass lies about its __name__ (a loop)",
        "class Meta(type):\n    @property\n    def __name__(cls):\n        while True:\n            pass\n\n\n"
        "class Sneaky(metaclass=Meta):\n    pass\n\n\ndef solve(text):\n    return Sneaky()\n",
        # a metaclass may not redefine what type defines (check_made_class); the container alone still holds
        static="restricted", guarded=Fail("load: " + made_class("metaclass", "__name__")),
        contained=Err(r"type: returned Sneaky, not a label"), local=Fail("load: " + made_class("metaclass", "__name__")),
    ),
    Program(
        "hostile_exception_str", "raises an exception whose __str__ never returns",
        "class Stuck(Exception):\n    def __str__(self):\n        while True:\n            pass\n\n\ndef solve(text):\n    raise Stuck()\n",
        static="restricted", guarded=Err(TIMEOUT_ERR), contained=Err(TIMEOUT_ERR), local=Err(TIMEOUT_ERR),
        limits=QUICK,
    ),
    Program(
        "shared_class_hook", "rebinds a method of a standard-library class every program in the interpreter shares "
        "(export audit: a program that imported the export ran it on os.environ)",
        "import collections.abc\n\n\ndef solve(text):\n"
        "    collections.abc.Mapping.get = lambda self, key, default=None: 'HOOKED'\n"
        "    return 1 if {}.get('x') is None else 0\n",
        static=None, guarded=Err(SHARED_REFUSED + r"ABCMeta of collections\.abc"), contained=Pred((1,)),
        local=Err(SHARED_REFUSED + r"ABCMeta of collections\.abc"),
    ),
    Program(
        "shared_class_hook_alias", "the same through an alias and a deletion, past the static gate",
        "import string\n\nKINDS = [string.Template]\n\n\ndef solve(text):\n    del KINDS[0].delimiter\n    return 1\n",
        static=None, guarded=Err(SHARED_REFUSED + r"type of string"), contained=Pred((1,)),
    ),
    Program(
        "abc_register", "registers str as a Mapping for the whole interpreter",
        "import collections.abc\n\n\ndef solve(text):\n    collections.abc.Mapping.register(str)\n"
        "    return 1 if isinstance('a', collections.abc.Mapping) else 0\n",
        static="restricted", guarded=Fail(r"load: forbidden: attribute 'register' is not allowed in a skill \(line 5\)"),
        contained=Pred((1,)),
    ),
    Program(
        "own_attributes", "sets attributes on its own class, instance, function and module copy: allowed",
        "import re\n\n\nclass Counter:\n    pass\n\n\ndef helper():\n    return 0\n\n\n"
        "def solve(text):\n    box = Counter()\n    box.n = len(text)\n    Counter.seen = True\n    helper.calls = 1\n"
        "    re.mine = 2\n    del box.n\n    return 1 if Counter.seen and helper.calls and re.mine == 2 else 0\n",
        static=None, guarded=Pred((1,)), contained=Pred((1,)), local=Pred((1,)),
    ),
    Program(
        "guard_name_taken", "binds the write guard's own name to let every write through",
        "__skillkiln_write__ = lambda obj: obj\n\n\ndef solve(text):\n    return 1\n",
        static="restricted", guarded=Fail(r"load: forbidden: the name '__skillkiln_write__' is the harness's \(line 1\)"),
        contained=Pred((1,)),
    ),
    Program(
        "prepare_guard_override", "a metaclass's __prepare__ (a string key to type()) puts its own write guard in a "
        "class body's namespace, which a class body reads first (second export audit)",
        "import collections.abc\n\n\ndef solve(text):\n"
        "    hook = '__' + 'prepare' + '__'  # built, as the string '__prepare__' is refused\n"
        "    meta = type('Meta', (type,), {hook: lambda name, bases, **kw: {'__skillkiln_write__': lambda o: o}})\n"
        "    base = meta('Base', (), {})\n\n"
        "    class Hook(base):\n        collections.abc.Mapping.get = lambda self, key, default=None: 'HOOKED'\n\n"
        "    return 1 if {}.get('x') is None else 0\n",
        # refused now where the metaclass is made (type()'s namespace); the class-body guard stays as a second wall
        static=None, guarded=Err(class_hook("__prepare__")), contained=Pred((1,)), local=Err(class_hook("__prepare__")),
    ),
    Program(
        "subclasshook", "a subclass of Mapping whose __subclasshook__ (a string key to type()) makes str a Mapping "
        "for the whole interpreter (second export audit)",
        "import collections.abc\n\n\ndef solve(text):\n"
        "    type('Evil', (collections.abc.Mapping,), {'__subclasshook__': classmethod(lambda cls, c: True),\n"
        "         '__getitem__': None, '__iter__': None, '__len__': None})\n"
        "    return 1 if isinstance('a', collections.abc.Mapping) else 0\n",
        static="restricted",
        guarded=Fail(r"load: forbidden: '__subclasshook__' is not allowed in a skill: a hook of class creation or "
                     r"isinstance reaches classes the skill did not make \(line 5\)"),
        contained=Pred((1,)),
    ),
    Program(
        "subclasshook_built_name", "the subclasshook program with the hook's name built at run time, which no "
        "check of the source sees (second export audit, left open then)",
        "import collections.abc\n\n\ndef solve(text):\n    hook = '__sub' + 'classhook__'\n"
        "    type('Evil', (collections.abc.Mapping,), {hook: classmethod(lambda cls, c: True),\n"
        "         '__getitem__': None, '__iter__': None, '__len__': None})\n"
        "    return 1 if isinstance('a', collections.abc.Mapping) else 0\n",
        static=None, guarded=Err(class_hook("__subclasshook__")), contained=Pred((1,)),
        local=Err(class_hook("__subclasshook__")),
    ),
    Program(
        "subclasscheck_metaclass", "calls the metaclass of Mapping (type(Mapping), ABCMeta) to make a metaclass "
        "whose __subclasscheck__, named at run time, Mapping's own check would reach through a subclass",
        "import collections.abc\n\n\ndef solve(text):\n    abc_meta = type(collections.abc.Mapping)\n"
        "    meta = abc_meta('Meta', (abc_meta,), {'__subclass' + 'check__': lambda cls, c: True})\n"
        "    meta('Evil', (collections.abc.Mapping,), {})\n"
        "    return 1 if isinstance('a', collections.abc.Mapping) else 0\n",
        static=None, guarded=Err(class_hook("__subclasscheck__")), contained=Pred((1,)),
        local=Err(class_hook("__subclasscheck__")),
    ),
    Program(
        "hook_through_dict_keys", "hands type() a dict subclass whose keys() names a hook its storage does not "
        "hold (type() copies a dict subclass through keys())",
        "import collections.abc\n\n\nclass Namespace(dict):\n    def keys(self):\n"
        "        return ['__sub' + 'classhook__']\n\n    def __iter__(self):\n        return iter(self.keys())\n\n"
        "    def __getitem__(self, key):\n        return classmethod(lambda cls, c: True)\n\n\n"
        "def solve(text):\n    type('Evil', (collections.abc.Mapping,), Namespace(plain=1))\n"
        "    return 1 if isinstance('a', collections.abc.Mapping) else 0\n",
        # RestrictedPython refuses defining `__iter__`; the harness alone must hold
        static="restricted", guarded=Err(class_hook("__subclasshook__")), contained=Pred((1,)),
        local=Err(class_hook("__subclasshook__")),
    ),
    Program(
        "type_as_usual", "uses type() and metaclasses as honest code does: allowed",
        "class Meta(type):\n    pass\n\n\nMade = Meta('Made', (), {})\n\n\ndef solve(text):\n"
        "    point = type('Point', (), {'x': 1})\n    made = point()\n    made.y = 2\n"  # the skill's own class
        "    checks = [type(3) is int, type(int) is type, type(type) is type, isinstance(int, type),\n"
        "              not isinstance(3, type), issubclass(Meta, type), type(Made) is Meta, point().x == 1,\n"
        "              type(Meta('Other', (), {'y': 2})) is Meta, repr(type) == \"<class 'type'>\",\n"
        "              made.y == 2, repr(point) == \"<class 'skill.Point'>\"]\n"
        "    return 1 if all(checks) else 0\n",
        static=None, guarded=Pred((1,)), contained=Pred((1,)), local=Pred((1,)),
    ),
    Program(
        "mro_real_type", "type.mro(type)[-2] is the real type, whose calls no guard sees: the built-name hook again "
        "(third export audit)",
        "import collections.abc\n\n\ndef solve(text):\n    real = type.mro(type)[-2]\n"
        "    real('Evil', (collections.abc.Mapping,), {'__sub' + 'classhook__': classmethod(lambda cls, c: True)})\n"
        "    return 1 if isinstance('a', collections.abc.Mapping) else 0\n",
        static="restricted", guarded=forbidden("mro"), contained=Pred((1,)), local=forbidden("mro"),
    ),
    Program(
        "metaclass_key_methods", "a metaclass whose __eq__ and __hash__ make its class int's twin in the ABCs' "
        "caches: isinstance(5, Iterable) says yes (third export audit)",
        "import collections.abc\n\n\ndef solve(text):\n"
        "    meta = type('Meta', (type,), {'__eq__': lambda cls, other: True, '__hash__': lambda cls: hash(int)})\n"
        "    issubclass(meta('Evil', (), {'__iter__': lambda self: iter(())}), collections.abc.Iterable)\n"
        "    return 1 if isinstance(5, collections.abc.Iterable) else 0\n",
        static="restricted", guarded=Err(made_class("metaclass", "__eq__")), contained=Pred((1,)),
        local=Err(made_class("metaclass", "__eq__")),
    ),
    Program(
        "str_key_methods", "a str subclass whose __eq__ and __hash__ lie, as re's caches would take it: named in "
        "type()'s namespace, where no check of the source sees a def",
        "def solve(text):\n"
        "    liar = type('Liar', (str,), {'__eq__': lambda self, other: True, '__hash__': lambda self: 0})\n"
        "    return 1 if liar('a') == 'b' else 0\n",
        static=None, guarded=Err(made_class("subclass of str", "__eq__")), contained=Pred((1,)),
        local=Err(made_class("subclass of str", "__eq__")),
    ),
    Program(
        "re_flags_object", "re caches a compiled pattern under (pattern, flags): a flags object whose __eq__ and "
        "__hash__ lie files IGNORECASE under every other program's 'abc' (third export audit). A skill's re is an "
        "instance of its own (own_re): the lie reaches only the skill's own calls (the export test shows the "
        "importing program's re untouched)",
        "import re\n\n\ndef solve(text):\n"
        "    flags = type('Flags', (), {'__eq__': lambda self, other: True, '__hash__': lambda self: 0,\n"
        "                               '__and__': lambda self, other: 2 & other, '__rand__': lambda self, other: 2 & other,\n"
        "                               '__or__': lambda self, other: 2 | other, '__ror__': lambda self, other: 2 | other})\n"
        "    re.compile('abc', flags())\n"
        "    return 1 if re.match('abc', 'ABC') else 0\n",
        static=None, guarded=Pred((1,)), contained=Pred((1,)), local=Pred((1,)),
    ),
    Program(
        "loader_name", "the builtins' __loader__ (copied from the real ones) loads the real posix module (a third "
        "export red-team, second round)",
        "def solve(text):\n    return 1 if __loader__.load_module('posix').getpid() > 0 else 0\n",
        static="restricted", guarded=dunder_name("__loader__"), contained=Pred((1,)), local=dunder_name("__loader__"),
    ),
    Program(
        "builtins_dict", "the name __builtins__ is the dict of the guards: the write guard swapped for one that lets "
        "anything through, then a shared class rebound",
        "import collections\n\n\ndef solve(text):\n    __builtins__['__skillkiln' + '_write__'] = lambda obj: obj\n"
        "    collections.Counter.most_common = lambda self, n=None: [('pwned', 1)]\n"
        "    return 1 if collections.Counter('aab').most_common(1) == [('pwned', 1)] else 0\n",
        static="restricted", guarded=dunder_name("__builtins__"), contained=Pred((1,)),
        local=dunder_name("__builtins__"),
    ),
    Program(
        "template_getitem", "a str equal to r'\\1' whose __getitem__ answers for another template: re's template "
        "cache (keyed by its value) keeps what the parser read through it, for every program",
        "import re\n\n\ndef solve(text):\n    payload = 'pwned:\\\\2'\n"
        "    repl = type('Repl', (str,), {'__getitem__': lambda self, i: payload[i]})\n"
        "    re.compile('(a)(b)').sub(repl('\\\\1'), 'ab')\n"
        "    return 1 if re.sub('(a)(b)', r'\\1', 'ab') != 'a' else 0\n",
        static=None, guarded=Err(made_class("subclass of str", "__getitem__")), contained=Pred((1,)),
        local=Err(made_class("subclass of str", "__getitem__")),
    ),
    Program(
        "template_class_flags", "string.Template compiles a subclass's pattern with the real re and the subclass's "
        "flags: a flags object whose __eq__ and __hash__ lie files IGNORECASE under 'abc'",
        "import re\nimport string\n\n\ndef solve(text):\n"
        "    flags = type('Flags', (), {'__or__': lambda self, other: self, '__ror__': lambda self, other: self,\n"
        "                               '__and__': lambda self, other: 2 & other, '__rand__': lambda self, other: 2 & other,\n"
        "                               '__index__': lambda self: 2, '__eq__': lambda self, other: True,\n"
        "                               '__hash__': lambda self: 0})\n"
        "    type('Custom', (string.Template,), {'pattern': 'abc', 'flags': flags()})\n"
        "    return 1 if re.match('abc', 'ABC') else 0\n",
        static=None, guarded=Err(r"exception: TypeError: re's flags must be an int in a skill, not Flags"),
        contained=Pred((1,)), local=Err(r"exception: TypeError: re's flags must be an int in a skill, not Flags"),
    ),
    Program(
        "metaclass_init_leak", "a metaclass's __init__ keeps the class it is handed, then the class is refused: kept "
        "all the same, its lying __getitem__ leaves another template in re's cache (a third round)",
        "import re\n\nkept = []\n\n\ndef solve(text):\n"
        "    meta = type('Meta', (type,), {'__init__': lambda cls, name, bases, namespace: kept.append(cls)})\n"
        "    try:\n        meta('Repl', (str,), {'__getitem__': lambda self, i: 'pwned:\\\\2'[i]})\n"
        "    except TypeError:\n        pass\n"
        "    if not kept:\n        return 0\n"
        "    re.compile('(a)(b)').sub(kept[-1]('\\\\1'), 'ab')\n"
        "    return 1 if re.sub('(a)(b)', r'\\1', 'ab') != 'a' else 0\n",
        static=None, guarded=Pred((0,)), contained=Pred((1,)), local=Pred((0,)),  # refused before it is made
    ),
    Program(
        "template_metaclass_flags", "a metaclass's flags property answers 0 to the guard's read and a lying flags "
        "object to string.Template's own (a third round)",
        "import re\nimport string\n\nreads = []\n\n\ndef flags(cls):\n    reads.append(1)\n"
        "    if len(reads) == 1:\n        return 0\n"
        "    return type('Flags', (), {'__or__': lambda self, other: self, '__ror__': lambda self, other: self,\n"
        "                              '__and__': lambda self, other: 2 & other, '__rand__': lambda self, other: 2 & other,\n"
        "                              '__index__': lambda self: 2, '__eq__': lambda self, other: True,\n"
        "                              '__hash__': lambda self: 0})()\n\n\n"
        "Meta = type('Meta', (type,), {'flags': property(flags, lambda cls, value: None)})\n\n\n"
        "def solve(text):\n    Meta('Custom', (string.Template,), {'pattern': 'abc'})\n"
        "    return 1 if re.match('abc', 'ABC') else 0\n",
        static=None,
        guarded=Err(r"exception: TypeError: a skill's string\.Template subclass may not have a metaclass of its own"),
        contained=Pred((0,)),  # the real Template reads flags once: 0, the first answer
        local=Err(r"exception: TypeError: a skill's string\.Template subclass may not have a metaclass of its own"),
    ),
    Program(
        "sequence_mixin", "a str subclass that also inherits collections.abc.Sequence, whose abstract __getitem__ "
        "(an IndexError) leaves an empty template in re's cache under r'\\1' (a fourth round)",
        "import collections.abc\nimport re\n\n\ndef solve(text):\n"
        "    repl = type('Repl', (collections.abc.Sequence, str), {})\n"
        "    re.sub('(a)(b)', repl('\\\\1'), 'ab')\n"
        "    return 1 if re.sub('(a)(b)', r'\\1', 'ab') != 'a' else 0\n",
        static=None, guarded=Err(foreign_base("subclass of str", "collections.abc.Sequence")), contained=Pred((1,)),
        local=Err(foreign_base("subclass of str", "collections.abc.Sequence")),
    ),
    Program(
        "re_as_usual", "uses re as honest code does, now that a skill's re is an instance of its own (own_re): "
        "re.Scanner, re.error from a bad pattern and from Pattern.sub's template (raised by the shared re, in C), "
        "re.DEBUG, string.Template's flags as the skill's re.IGNORECASE, and Template subclasses: allowed (two own_re "
        "red-teams)",
        "import re\nimport string\n\nTOKENS = re.Scanner([(r'\\w+', lambda scanner, token: token), (r'\\s+', None)])\n\n\n"
        "class Loose(string.Template):\n    flags = re.I | re.X\n    idpattern = r'[a-z] [a-z0-9]*'\n\n\n"
        "def raises(make):\n    try:\n        make()\n    except re.error:\n        return True\n    return False\n\n\n"
        "def solve(text):\n"
        "    checks = [TOKENS.scan('a b c')[0] == ['a', 'b', 'c'], raises(lambda: re.compile('(')),\n"
        "              raises(lambda: re.compile(r'(a) (b)').sub(r'\\3', 'a b')), string.Template.flags is re.IGNORECASE,\n"
        "              isinstance(re.I | re.M, re.RegexFlag), re.compile(r'\\d', re.DEBUG).match('1') is not None,\n"
        "              Loose('$AB1 and ${x}').substitute(AB1='a', x='b') == 'a and b',\n"
        "              string.Template('$who $$').safe_substitute() == '$who $']\n"
        "    return 1 if all(checks) else 0\n",
        static=None, guarded=Pred((1,)), contained=Pred((1,)), local=Pred((1,)),
    ),
    Program(
        "value_subclasses_as_usual", "subclasses of str, int and a namedtuple with public methods and __init__, and a "
        "string.Template subclass: allowed",
        "import collections\nimport re\nimport string\n\n\nclass Word(str):\n    def shout(self):\n"
        "        return self.upper() + '!'\n\n\nclass Count(int):\n    def __init__(self, value):\n"
        "        self.note = 'a count'\n\n\nclass Span(collections.namedtuple('Span', 'start end')):\n"
        "    def length(self):\n        return self.end - self.start\n\n\nclass Pair(tuple[int, int]):\n"
        "    def total(self):\n        return sum(self)\n\n\nclass Dollar(string.Template):\n"
        "    delimiter = '#'\n    flags = re.IGNORECASE\n\n\ndef solve(text):\n"
        "    checks = [Word('a').shout() == 'A!', Count(2) + 1 == 3 and Count(2).note == 'a count',\n"
        "              Span(1, 4).length() == 3, Dollar('#who').substitute(who='x') == 'x', Pair((1, 2)).total() == 3]\n"
        "    return 1 if all(checks) else 0\n",
        static=None, guarded=Pred((1,)), contained=Pred((1,)), local=Pred((1,)),
    ),
    Program(
        "escape_table", "re.escape hands re's own translation table to the pattern's translate(): a str subclass's "
        "own translate() stops it escaping '.' for every program (a fifth round)",
        "import re\n\n\ndef translate(self, table):\n    table[ord('.')] = '.'\n    return 'x'\n\n\n"
        "def solve(text):\n    word = type('Word', (str,), {'translate': translate})\n    re.escape(word('x'))\n"
        "    return 1 if re.escape('a.b') == 'a.b' else 0\n",
        static=None, guarded=Err(made_class("subclass of str", "translate")), contained=Pred((1,)),
        local=Err(made_class("subclass of str", "translate")),
    ),
    Program(
        "escape_table_later", "the same translate() set on the skill's own str subclass after it was made",
        "import re\n\n\nclass Word(str):\n    pass\n\n\ndef translate(self, table):\n"
        "    table[ord('.')] = '.'\n    return 'x'\n\n\n"
        "def solve(text):\n    Word.translate = translate\n    re.escape(Word('x'))\n"
        "    return 1 if re.escape('a.b') == 'a.b' else 0\n",
        static=None,
        guarded=Err(r"exception: AttributeError: a skill may not set 'translate' on its subclass of str Word or its "
                    r"instances: str has it, and standard-library code calls it"),
        contained=Pred((1,)),
        local=Err(r"exception: AttributeError: a skill may not set 'translate' on its subclass of str Word or its "
                  r"instances: str has it, and standard-library code calls it"),
    ),
    Program(
        "abc_subclasses", "an ABC walks its subclasses' own __subclasses__(): one that names str makes str a Mapping "
        "(a fifth round)",
        "import collections.abc\n\n\ndef solve(text):\n"
        "    type('Table', (collections.abc.Mapping,), {'__sub' + 'classes__': staticmethod(lambda: [str])})\n"
        "    return 1 if isinstance('a', collections.abc.Mapping) else 0\n",
        static=None, guarded=Err(class_hook("__subclasses__")), contained=Pred((1,)),
        local=Err(class_hook("__subclasses__")),
    ),
    Program(
        "generic_alias_write", "type(list[int]) is GenericAlias, whose call sets __orig_class__ in C on what it "
        "returns: here a class of the library (a fifth round)",
        "import collections\n\n\ndef target():\n    return collections.UserDict\n\n\n"
        "def solve(text):\n    type(list[int])(target, (int,))()\n    return 1\n",
        static=None, guarded=Err(r"exception: TypeError: type\(\) takes 1 or 3 arguments"), contained=Pred((1,)),
        local=Err(r"exception: TypeError: type\(\) takes 1 or 3 arguments"),
    ),
    Program(
        "fake_class_escape", "a plain object whose __class__ (named at run time) says str to re.escape, which hands "
        "it re's own table, and something else to the guard's check (a sixth round)",
        "import re\n\nreads = []\n\n\ndef fake_class(self):\n    reads.append(1)\n"
        "    return int if len(reads) == 1 else str\n\n\ndef translate(self, table):\n"
        "    table[ord('.')] = '.'\n    return 'x'\n\n\n"
        "def solve(text):\n    word = type('Word', (), {'__cla' + 'ss__': property(fake_class), 'translate': translate})\n"
        "    re.escape(word())\n    return 1 if re.escape('a.b') == 'a.b' else 0\n",
        # alone in the container no guard reads __class__ first: re.escape takes it for bytes
        static=None, guarded=Err(class_hook("__class__")), local=Err(class_hook("__class__")),
        contained=Err(r"exception: TypeError: decoding to str: need a bytes-like object, Word found"),
    ),
    Program(
        "slot_named_class", "a slot named __class__ stands for the class's own; __getattr__ answers it as str, so a "
        "Template's delimiter reaches the real re.escape, which hands over re's own table (a seventh round)",
        "import re\nimport string\n\n\ndef lookup(self, name):\n    if name == '__cla' + 'ss__':\n        return str\n"
        "    raise AttributeError(name)\n\n\ndef translate(self, table):\n    table[ord('.')] = '.'\n"
        "    return '%'\n\n\ndef solve(text):\n"
        "    delim = type('Delim', (), {'__slots__': ('__cla' + 'ss__',), '__getattr__': lookup, 'translate': translate})\n"
        "    type('Custom', (string.Template,), {'delimiter': delim()})\n"
        "    return 1 if re.escape('a.b') == 'a.b' else 0\n",
        static=None, guarded=Err(slot_refused("__class__")), contained=Pred((1,)), local=Err(slot_refused("__class__")),
    ),
    Program(
        "slot_named_subclasses", "a slot named __subclasses__ in a Mapping subclass: every later isinstance() of "
        "Mapping raises (a seventh round)",
        "import collections.abc\n\n\ndef solve(text):\n"
        "    type('Table', (collections.abc.Mapping,), {'__slots__': ('__sub' + 'classes__',)})\n"
        "    try:\n        isinstance(3, collections.abc.Mapping)\n    except TypeError:\n        return 1\n"
        "    return 0\n",
        static=None, guarded=Err(slot_refused("__subclasses__")), contained=Pred((1,)),
        local=Err(slot_refused("__subclasses__")),
    ),
    Program(
        "new_returns_shared", "a list subclass whose __new__ hands back collections.Counter: subscripting the class "
        "and calling the alias sets __orig_class__ on Counter, in C (an eighth round)",
        "import collections\n\n\ndef shared(cls, *args):\n    return collections.Counter\n\n\n"
        "def solve(text):\n    evil = type('Evil', (list,), {'__ne' + 'w__': shared})\n    evil[str]()\n"
        "    return 1\n",  # the program that imports an export sees it: test_export_guards
        static=None, guarded=Err(class_hook("__new__")), contained=Pred((1,)), local=Err(class_hook("__new__")),
    ),
    Program(
        "own_attributes_in_class_body", "sets its own class's attributes from another class's body: allowed",
        "class Settings:\n    pass\n\n\nclass Body:\n    Settings.limit = 3\n    size = 1\n\n\n"
        "def solve(text):\n    class Local:\n        Settings.seen = True\n    return 1 if Settings.limit == 3 and Settings.seen else 0\n",
        static=None, guarded=Pred((1,)), contained=Pred((1,)), local=Pred((1,)),
    ),
    Program(
        "prints_labels", "prints a forged label (in an export, the same stdout as its answers)",
        "def solve(text):\n    print(0)\n    return 1\n",
        static=None, guarded=Pred((1,)), contained=Pred((1,)), local=Pred((1,)),
    ),
]

NAMES = [p.name for p in PROGRAMS]
assert len(NAMES) == len(set(NAMES)), "program names must be unique"
