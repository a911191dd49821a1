"""The static gate, before any execution: size cap, syntax, a solve(text) signature,
an import allow-list, attribute walks out of the allowed modules, and RestrictedPython's
compile (no dunder or _private names, no exec/eval, no attribute tricks it can see).

Attribute walks: an allowed module hands out other modules (`re.enum.sys.modules['os']`) and
a few callables that do a real getattr or eval on the caller's behalf (string.Formatter's
field lookup, functools.update_wrapper's attribute copying, singledispatch's evaluation of
string annotations). The sandbox's copies of the modules leave all of them out; this layer
rejects them before execution: from-imports of them, their names as attributes anywhere, and
attribute chains on a name bound by an import that reach a module outside the imported one.
What it cannot follow (a module passed around under another name) the sandbox still stops."""
from __future__ import annotations

import ast
import importlib
import re
import threading
import types
from dataclasses import dataclass

from RestrictedPython import compile_restricted_exec

from sandbox.backend import ALLOWED_IMPORTS

MAX_SOURCE_BYTES = 20_000
# The same table as HIDDEN_MODULE_ATTRIBUTES in sandbox/harness.py (a test holds them equal).
HIDDEN_MODULE_ATTRIBUTES = {
    "string": {"Formatter"},
    "functools": {"update_wrapper", "wraps", "singledispatch", "singledispatchmethod", "GenericAlias"},
}
HIDDEN_NAMES = frozenset(name for names in HIDDEN_MODULE_ATTRIBUTES.values() for name in names)
# The same as FORMAT_ATTRIBUTES in sandbox/harness.py: str.format and format_map look up the
# attributes a template names ("{0.__globals__}") with the real getattr. f-strings do not.
FORMAT_ATTRIBUTES = frozenset({"format", "format_map"})
# The same set as SHARED_STATE_ATTRIBUTES in sandbox/harness.py (a test holds them equal), each with why
SHARED_STATE_WHY = {
    "register": "ABCMeta.register changes what isinstance() says for every program in the interpreter",
    "mro": "type.mro(type) hands out the real type, and X.mro() every metaclass, whose calls no guard sees",
}
SHARED_STATE_ATTRIBUTES = frozenset(SHARED_STATE_WHY)
# The same set as CLASS_HOOKS in sandbox/harness.py (a test holds them equal): hooks of class creation and of
# isinstance, refused as a def, a name, a keyword or a string (a subclass of a standard-library ABC with its own
# __subclasshook__, made with type(), changed isinstance for the whole interpreter)
CLASS_HOOKS = frozenset({"__subclasshook__", "__prepare__", "__instancecheck__", "__subclasscheck__",
                         "__init_subclass__", "__set_name__", "__mro_entries__", "__class_getitem__",
                         "__subclasses__", "__class__", "__getattribute__", "__new__"})
# The same set as UNSAFE_BUILTINS in sandbox/harness.py (a test holds them equal): builtins a skill does
# not have in the sandbox. Named anyway, one raises NameError there and is the real builtin anywhere
# else, so `try: open except NameError:` tells a skill where it runs (honest in the gate, anything in
# an export run by plain python3).
UNSAFE_BUILTINS = frozenset({
    "open", "exec", "eval", "compile", "input", "breakpoint", "globals", "locals", "vars",
    "help", "exit", "quit", "copyright", "credits", "license", "memoryview",
    "setattr", "delattr",
})
# Builtins the sandbox has whose answers change from one Python process to the next: a skill built on
# them passes the gate (its processes share one hash seed and one memory layout) and answers otherwise
# in an export.
NOT_PORTABLE = {
    "hash": "hash() of a str changes between Python processes (PYTHONHASHSEED)",
    "id": "id() is a memory address, which changes between Python processes",
}


# CPython 3.11 keeps one AST recursion counter per interpreter, not per thread: two threads
# building syntax trees at once (the GIL can change hands when the garbage collector runs a
# finaliser mid-build) corrupt it, and the parse fails with "SystemError: AST constructor
# recursion depth mismatch" (python/cpython#106905). The loop judges candidates on a thread pool
# while the main thread hashes and reads others, so every host-side parse goes through this lock.
AST_LOCK = threading.Lock()


def parse(code: str, filename: str = "<skill>") -> ast.Module:
    """ast.parse under AST_LOCK. Source too deeply nested to build a tree of (RecursionError,
    MemoryError) or holding a null byte (ValueError) raises SyntaxError like any unparseable code."""
    with AST_LOCK:
        try:
            return ast.parse(code, filename)
        except (RecursionError, MemoryError) as exc:
            raise SyntaxError(f"too deeply nested to parse ({type(exc).__name__})") from None
        except ValueError as exc:
            raise SyntaxError(str(exc)) from None


@dataclass(frozen=True)
class StaticResult:
    ok: bool
    reason: str = ""  # a stable code: too_large, syntax, no_solve, import, restricted, opaque
    detail: str = ""


def check_source(
    code: str,
    allowed_imports: tuple[str, ...] = ALLOWED_IMPORTS,
    max_bytes: int = MAX_SOURCE_BYTES,
    libraries: tuple[str, ...] = (),
) -> StaticResult:
    size = len(code.encode("utf-8", "replace"))
    if size > max_bytes:
        return StaticResult(False, "too_large", f"{size} bytes, the cap is {max_bytes}")
    try:
        tree = parse(code)
    except SyntaxError as exc:
        where = f"line {exc.lineno}: " if exc.lineno else ""
        return StaticResult(False, "syntax", f"{where}{exc.msg}")
    solve = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "solve"), None)
    if solve is None:
        return StaticResult(False, "no_solve", "no top-level def solve(text)")
    args = solve.args
    positional = args.posonlyargs + args.args
    required = len(positional) - len(args.defaults)
    if required != 1 and not (required == 0 and (positional or args.vararg)):  # solve(text=''), solve(*args) take one
        return StaticResult(False, "no_solve", f"solve takes {len(positional)} positional arguments; it must take one (text)")
    allowed = set(allowed_imports) | set(libraries) | ({"skills"} if libraries else set())
    for node in ast.walk(tree):
        names: list[str] = []
        imported: list[str] = []  # what `from M import ...` takes from M
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [("." * node.level) + (node.module or "")]
            imported = [a.name for a in node.names]
        private = [part for name in names + imported for part in name.split(".") if part.startswith("_")]
        if private and all(name.split(".")[0] in allowed for name in names):
            # `import re._compiler as c` bound the real private module, past the sandbox's copy of re
            return StaticResult(False, "import", f"import of {private[0]!r} is not allowed: a private module or name "
                                                 f"(line {node.lineno})")
        for name in names:
            if name.split(".")[0] not in allowed:
                hint = "; a stored skill is imported as `from skills import NAME` when the run or check names it with --library" \
                    if name.split(".")[0] == "skills" else ""
                return StaticResult(False, "import", f"import of {name!r} is not allowed (allowed: {', '.join(sorted(allowed))}){hint}")
    walk = attribute_walk(tree, set(allowed_imports)) or builtin_outside(tree) or class_hook(tree)
    if walk:
        return StaticResult(False, "restricted", walk)
    opaque = opaque_data(tree)
    if opaque:
        return StaticResult(False, "opaque", opaque)
    with AST_LOCK:
        try:
            result = compile_restricted_exec(code, filename="<skill>")
        except (RecursionError, MemoryError) as exc:
            return StaticResult(False, "restricted", f"too deeply nested for the restricted compiler ({type(exc).__name__})")
    if result.errors:
        return StaticResult(False, "restricted", "; ".join(result.errors)[:300])
    return StaticResult(True)


# Encoded data: a skill is rules a person can read. A table of sentence fingerprints packed into base64,
# hex, bytes or big integers is a lookup no reader can check, and it escapes both memorisation tests
# (no words to match, and a table of every split leaves no train-validation gap). Letters alone pack
# a table too (base 26, or one character of any script an entry), so a run of letters longer than any
# word counts as encoded text. The bounds leave room
# for any pattern, word list or threshold an honest skill holds.
BLOB_RUN = re.compile(r"[A-Za-z0-9+/=_-]{16,}")  # a run of base64/hex-like characters
MAX_BLOB_CHARS = 2000  # in runs that mix letters and digits, over all string literals
MAX_BYTES_CHARS = 2000  # in bytes literals
MAX_BIG_INTS = 64  # integer literals of 65536 or more
MAX_DISTINCT_INTS = 200  # distinct integer literals of 1000 or more (weights and thresholds are far fewer)
LETTER_RUN = re.compile(r"[^\W\d_]{24,}")  # a run of letters (any script) longer than any word: a packed table
MAX_LETTER_RUN_CHARS = 500  # in such runs, over all string literals


def opaque_data(tree: ast.AST) -> str:
    """Why the code holds encoded data a reader cannot check, or ""."""
    blob = packed = big = letters = 0
    distinct: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant):
            continue
        value = node.value
        if isinstance(value, bytes):
            packed += len(value)
        elif isinstance(value, str):
            blob += sum(len(run) for run in BLOB_RUN.findall(value)
                        if any(c.isdigit() for c in run) and any(c.isalpha() for c in run))
            letters += sum(len(run) for run in LETTER_RUN.findall(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            big += abs(value) >= 1 << 16
            if abs(value) >= 1000:
                distinct.add(value)
    if blob > MAX_BLOB_CHARS:
        return (f"{blob} characters of encoded text (base64 or hex runs) in string literals, over {MAX_BLOB_CHARS}: "
                "a packed table, not rules a reader can check")
    if letters > MAX_LETTER_RUN_CHARS:
        return (f"{letters} characters in runs of letters longer than any word, over {MAX_LETTER_RUN_CHARS}: a packed "
                "table, not rules a reader can check")
    if packed > MAX_BYTES_CHARS:
        return f"{packed} bytes in bytes literals, over {MAX_BYTES_CHARS}: a packed table, not rules a reader can check"
    if big > MAX_BIG_INTS:
        return (f"{big} integer literals of 65536 or more, over {MAX_BIG_INTS}: a table of fingerprints, not rules a "
                "reader can check")
    if len(distinct) > MAX_DISTINCT_INTS:
        return (f"{len(distinct)} distinct integer literals of 1000 or more, over {MAX_DISTINCT_INTS}: a table of "
                "fingerprints, not rules a reader can check")
    return ""


def attribute_walk(tree: ast.AST, allowed: set[str]) -> str:
    """Why the code reaches past an allowed module (see the module docstring), or ""."""
    bound: dict[str, str] = {}  # a name bound by an import -> the module it names
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in allowed:  # `import a.b` binds a, `import a.b as c` binds a.b
                    bound[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] in allowed:
            name = node.module or ""
            module = real_module(name)
            for alias in node.names:
                where = f"from {name} import {alias.name} (line {node.lineno})"
                if alias.name in HIDDEN_MODULE_ATTRIBUTES.get(name, ()):
                    return f"{where}: {alias.name} does a real getattr, eval or attribute write for the caller"
                value = getattr(module, alias.name, None)
                if isinstance(value, types.ModuleType):
                    if not inside(value, name.split(".")[0]):
                        return f"{where}: {value.__name__} is another module"
                    bound[alias.asname or alias.name] = value.__name__

    def named_module(expr: ast.AST) -> types.ModuleType | None:
        """The module an expression names: an import-bound name, or a submodule attribute of one."""
        if isinstance(expr, ast.Name):
            return real_module(bound[expr.id]) if expr.id in bound else None
        if isinstance(expr, ast.Attribute):
            base = named_module(expr.value)
            value = getattr(base, expr.attr, None) if base is not None else None
            if isinstance(value, types.ModuleType) and inside(value, base.__name__.split(".")[0]):
                return value
        return None

    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        if node.attr in HIDDEN_NAMES:
            return (f"attribute {node.attr!r} (line {node.lineno}): it does a real getattr, eval or attribute write "
                    "for the caller")
        if node.attr in FORMAT_ATTRIBUTES:
            return (f"attribute {node.attr!r} (line {node.lineno}): str.{node.attr} looks up whatever attributes its "
                    "template names; use an f-string")
        if node.attr in SHARED_STATE_ATTRIBUTES:
            return f"attribute {node.attr!r} (line {node.lineno}): {SHARED_STATE_WHY[node.attr]}"
        base = named_module(node.value)
        value = getattr(base, node.attr, None) if base is not None else None
        if isinstance(value, types.ModuleType) and not inside(value, base.__name__.split(".")[0]):
            return (f"attribute {node.attr!r} (line {node.lineno}) walks from the module {base.__name__} "
                    f"into the module {value.__name__}")
    return ""


def class_hook(tree: ast.AST) -> str:
    """Why the code names a hook of class creation or of isinstance (CLASS_HOOKS), or ""."""
    for node in ast.walk(tree):
        names = [getattr(node, field, None) for field in ("id", "arg", "name", "asname")]
        if isinstance(node, ast.Constant):
            names.append(node.value)
        hook = next((name for name in names if type(name) is str and name in CLASS_HOOKS), None)
        if hook:
            return (f"{hook!r} (line {getattr(node, 'lineno', '?')}): a hook of class creation or isinstance reaches "
                    "classes the skill did not make")
    return ""


SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def builtin_outside(tree: ast.Module) -> str:
    """Why the code names a builtin the sandbox leaves out, or one whose answers are not portable, or "".

    A name counts unless the innermost function around it binds it (a parameter or a local called
    `input` is the skill's own); at module level a name falls through to the builtins whenever its
    binding has not run, so there it always counts."""
    for scope in [tree] + [n for n in ast.walk(tree) if isinstance(n, SCOPES)]:
        own = set() if scope is tree else bound_names(scope)
        for node in scope_nodes(scope):
            if not (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)) or node.id in own:
                continue
            if node.id in UNSAFE_BUILTINS:
                return (f"the name {node.id!r} (line {node.lineno}) is a builtin a skill does not have: it fails in the "
                        "sandbox and is the real one anywhere else, so a skill must not name it")
            if node.id in NOT_PORTABLE:
                return (f"{node.id} (line {node.lineno}): {NOT_PORTABLE[node.id]}, so the skill would answer "
                        "otherwise outside the sandbox")
    return ""


def scope_nodes(scope: ast.AST):
    """The nodes of one scope: a nested function's body is its own scope (its defaults and decorators are not)."""
    todo = list(ast.iter_child_nodes(scope))
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, SCOPES):
            todo += node.args.defaults + [d for d in node.args.kw_defaults if d is not None]
            todo += getattr(node, "decorator_list", [])
        else:
            todo += ast.iter_child_nodes(node)


def bound_names(function: ast.AST) -> set[str]:
    """The names a function binds locally: its parameters and whatever its own body assigns, defines or imports."""
    args = function.args
    names = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
    names |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    declared: set[str] = set()
    for node in scope_nodes(function):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            declared |= set(node.names)
    return names - declared


def real_module(name: str) -> types.ModuleType | None:
    """The host's own copy of an allowed module (the sandbox runs the same Python minor version)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def inside(module: types.ModuleType, root: str) -> bool:
    """A module that is `root` itself or one of its submodules (collections.abc for collections)."""
    name = module.__name__
    return name == root or name.startswith(root + ".")
