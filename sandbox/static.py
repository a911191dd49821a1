"""The static gate, before any execution: size cap, syntax, a solve(text) signature,
an import allow-list, and RestrictedPython's compile (no dunder or _private names,
no exec/eval, no attribute tricks it can see)."""
from __future__ import annotations

import ast
from dataclasses import dataclass

from RestrictedPython import compile_restricted_exec

from sandbox.backend import ALLOWED_IMPORTS

MAX_SOURCE_BYTES = 20_000


@dataclass(frozen=True)
class StaticResult:
    ok: bool
    reason: str = ""  # a stable code: too_large, syntax, no_solve, import, restricted
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
        tree = ast.parse(code)
    except SyntaxError as exc:
        return StaticResult(False, "syntax", f"line {exc.lineno}: {exc.msg}")
    solve = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "solve"), None)
    if solve is None:
        return StaticResult(False, "no_solve", "no top-level def solve(text)")
    args = solve.args
    positional = args.posonlyargs + args.args
    required = len(positional) - len(args.defaults)
    if required != 1 and not (required == 0 and positional):
        return StaticResult(False, "no_solve", f"solve takes {len(positional)} positional arguments; it must take one (text)")
    allowed = set(allowed_imports) | set(libraries) | ({"skills"} if libraries else set())
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [("." * node.level) + (node.module or "")]
        for name in names:
            if name.split(".")[0] not in allowed:
                return StaticResult(False, "import", f"import of {name!r} is not allowed (allowed: {', '.join(sorted(allowed))})")
    result = compile_restricted_exec(code, filename="<skill>")
    if result.errors:
        return StaticResult(False, "restricted", "; ".join(result.errors)[:300])
    return StaticResult(True)
