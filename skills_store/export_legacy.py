"""Exports written before an export ran its skill under the sandbox's guards (skills_store/export_guards.py).

Such an export holds the stored code as the module's own body, between the two markers below, with a
loader that runs its libraries by plain exec. `skills check` still takes one as what `skills export`
wrote then (and says that it runs the code without the guards); `skills export` no longer writes it.
"""
from __future__ import annotations

import ast

from skills_store.store import library_name, sha256

SKILL_START = "# ---- skillkiln: the skill's own code ----\n"
SKILL_END = "# ---- skillkiln: command-line use (not part of the skill) ----\n"

MAIN = '''
if __name__ == "__main__":
    import json as _json
    import sys as _sys

    for _text in _sys.argv[1:] or [line.rstrip("\\n").rstrip("\\r") for line in _sys.stdin]:
        _answer = solve(_text)  # a label as it is; spans as JSON, as `skills run` prints them
        print(_answer if isinstance(_answer, (str, int, float, bool)) else _json.dumps(_answer))
'''

# the span runners of exports written before the pieces of a long text overlapped (engine/masking.py)
SPAN_RUNNERS_BEFORE_OVERLAP = (
    '\n\n_CUTS = (\'\\n\', \'. \', \'? \', \'! \', \'; \', \', \', \' \')\n\n\ndef _pieces(text, limit):\n    """(offset, piece) covering TEXT, each piece at most LIMIT characters, cut where _CUTS says."""\n    if limit is None or len(text) <= limit:\n        return [(0, text)]\n    out, at = ([], 0)\n    while len(text) - at > limit:\n        window = text[at:at + limit]\n        end = 0\n        for cut in _CUTS:\n            found = window.rfind(cut, limit // 2)\n            if found >= 0:\n                end = found + len(cut)\n                break\n        end = end or limit\n        out.append((at, text[at:at + end]))\n        at += end\n    out.append((at, text[at:]))\n    return out\n\n\ndef solve_whole(text):\n    """As `skills run` does: a text longer than the skill reads (MAX_CHARS) runs in pieces cut at line,\n    sentence or word ends, and each piece\'s spans are placed in the whole text."""\n    parts = _pieces(text, MAX_CHARS)\n    if len(parts) == 1:\n        return solve(text)\n    return [[s[0] + offset, s[1] + offset, s[2]] for offset, piece in parts for s in solve(piece)]\n\n\nif __name__ == "__main__":\n    import json as _json\n    import sys as _sys\n\n    for _text in _sys.argv[1:] or [line.rstrip("\\n") for line in _sys.stdin]:\n        print(_json.dumps(solve_whole(_text)))  # spans as JSON, as `skills run` prints them\n',
    '\n\n_CUTS = (\'\\n\', \'. \', \'? \', \'! \', \'; \', \', \', \' \')\n\n\ndef _pieces(text, limit):\n    """(offset, piece) covering TEXT, each piece at most LIMIT characters, cut where _CUTS says."""\n    if limit is None or len(text) <= limit:\n        return [(0, text)]\n    out, at = ([], 0)\n    while len(text) - at > limit:\n        window = text[at:at + limit]\n        end = 0\n        for cut in _CUTS:\n            found = window.rfind(cut, limit // 2)\n            if found >= 0:\n                end = found + len(cut)\n                break\n        end = end or limit\n        out.append((at, text[at:at + end]))\n        at += end\n    out.append((at, text[at:]))\n    return out\n\n\ndef solve_whole(text):\n    """As `skills run` does: a text longer than the skill reads (MAX_CHARS) runs in pieces cut at line,\n    sentence or word ends, and each piece\'s spans are placed in the whole text."""\n    parts = _pieces(text, MAX_CHARS)\n    if len(parts) == 1:\n        return solve(text)\n    return [[s[0] + offset, s[1] + offset, s[2]] for offset, piece in parts for s in solve(piece)]\n\n\nif __name__ == "__main__":\n    import json as _json\n    import sys as _sys\n\n    for _text in _sys.argv[1:] or [line.rstrip("\\n").rstrip("\\r") for line in _sys.stdin]:\n        print(_json.dumps(solve_whole(_text)))  # spans as JSON, as `skills run` prints them\n',
)

# exports written before lines from stdin lost a CRLF file's "\r"
_LEGACY_READ = ('.rstrip("\\n").rstrip("\\r") for line', '.rstrip("\\n") for line')


def command_blocks(span_runner: str) -> tuple[str, ...]:
    """The command-line blocks these exports had after the skill's code. SPAN_RUNNER: the current span
    runner (skills_store/export.py), which these exports carried as it is now."""
    now = (MAIN, span_runner)
    return now + tuple(block.replace(*_LEGACY_READ) for block in now) + SPAN_RUNNERS_BEFORE_OVERLAP


def loader(libraries: list[tuple[str, str]]) -> str:
    """Their code that made `from skills import NAME` work: each (NAME@V, code), dependencies first."""
    if not libraries:
        return ""
    parts = ["import sys as _sys\nimport types as _types\n\n"
             "# stored skills this one imports as `from skills import NAME`, pinned by version\n"
             "_skills = _types.ModuleType(\"skills\")\n_sys.modules[\"skills\"] = _skills\n"]
    for ref, code in libraries:  # dependencies first: a library may import the ones before it
        name = library_name(ref.rpartition("@")[0])
        parts.append(
            f"# {ref}, sha256 {sha256(code)[:12]}\n"
            f"_module = _types.ModuleType(\"skills.{name}\")\n"
            f"exec(compile({code!r}, \"{ref}\", \"exec\"), _module.__dict__)\n"
            f"setattr(_skills, {name!r}, _module)\n_sys.modules[\"skills.{name}\"] = _module\n"
        )
    return "".join(parts) + "\n"


def embedded_libraries(head: str) -> dict[str, tuple[str, str]]:
    """The stored skills HEAD (what comes before the skill's code) carries: import name -> (NAME@V, code),
    read from its `exec(compile(CODE, "NAME@V", "exec"), ...)` lines, dependencies first."""
    found: dict[str, tuple[str, str]] = {}
    try:
        tree = ast.parse(head)
    except SyntaxError:
        return found
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "compile" and len(node.args) == 3
                and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args[:2])):
            code, ref = node.args[0].value, node.args[1].value
            found[library_name(ref.rpartition("@")[0])] = (ref, code)
    return found
