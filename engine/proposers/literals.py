"""Source helpers the offline proposers share: write a string as a readable literal, and read a
rendered skill's top-level constants back."""
from __future__ import annotations

import ast
from typing import Any

from sandbox.static import parse


def literal(text: str) -> str:
    """A readable literal for `text`: a raw string when that is exact, else repr()."""
    raw = f'r"{text}"'
    if '"' not in text and "\n" not in text and "\r" not in text and not text.endswith("\\"):
        try:
            if ast.literal_eval(parse(raw).body[0].value) == text:
                return raw
        except (SyntaxError, ValueError):
            pass
    return repr(text)


def constants(code: str) -> dict[str, Any] | None:
    """Top-level `NAME = literal` assignments of some source; None when it does not parse."""
    try:
        tree = parse(code)
    except SyntaxError:
        return None
    found: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                found[node.targets[0].id] = ast.literal_eval(node.value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                continue
    return found
