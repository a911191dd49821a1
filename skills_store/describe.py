"""A one-paragraph description of a skill, derived from its code when no proposer wrote one."""
from __future__ import annotations

import ast
import re

from sandbox.static import parse

MAX_WORDS_LISTED = 12
NAME_LIKE = re.compile(r"[A-Z][A-Z0-9_]+")  # a constant's name used as a key, not a word the skill looks for


def describe(code: str, task: str) -> str:
    try:
        tree = parse(code)
    except SyntaxError:
        return f"skill for {task}"
    doc = (ast.get_docstring(tree) or "").strip().splitlines()
    parts = [(doc[0] if doc else f"skill for {task}").rstrip(" .")]  # the parts are joined with "; "
    strings: list[str] = []
    keys = {id(k) for node in ast.walk(tree) if isinstance(node, ast.Dict) for k in node.keys}
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):  # a word list's keys; not a table's own names ({"NAMES": ...})
            strings += [k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)
                        and not NAME_LIKE.fullmatch(k.value)]
        elif isinstance(node, ast.Constant) and id(node) not in keys and isinstance(node.value, str) and len(node.value) < 40:
            if node.value not in strings and node.value not in parts[0]:
                strings.append(node.value)
    imports = sorted({a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
                     | {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)})
    if imports:
        parts.append("uses " + ", ".join(imports))
    if strings:
        parts.append("looks for " + ", ".join(repr(s) for s in strings[:MAX_WORDS_LISTED])
                     + (f" and {len(strings) - MAX_WORDS_LISTED} more" if len(strings) > MAX_WORDS_LISTED else ""))
    return "; ".join(parts)
