"""Export a stored skill as one standalone .py module that runs without skillkiln."""
from __future__ import annotations

from datetime import date

from engine.records import SkillVersion, selection_key
from skills_store.store import library_name, sha256

# The stored code sits between these two lines, so `skills check` can take it back out of an export.
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


SPAN_MAIN = '''

def solve_whole(text):
    """As `skills run` does: a text longer than the skill reads (MAX_CHARS) runs in overlapping pieces cut at
    line, sentence or word ends, and each piece's spans are placed in the whole text (a span once)."""
    parts = _pieces(text, MAX_CHARS)
    if len(parts) == 1:
        return solve(text)
    return _joined(parts, [solve(piece) for _, piece in parts])


if __name__ == "__main__":
    import json as _json
    import sys as _sys

    for _text in _sys.argv[1:] or [line.rstrip("\\n").rstrip("\\r") for line in _sys.stdin]:
        print(_json.dumps(solve_whole(_text)))  # spans as JSON, as `skills run` prints them
'''


# exports written before lines from stdin lost a CRLF file's "\r": `skills check` takes them as they are
_LEGACY_READ = ('.rstrip("\\n").rstrip("\\r") for line', '.rstrip("\\n") for line')


def command_blocks() -> tuple[str, ...]:
    """The command-line blocks `skills export` writes after a skill's code, and those it wrote before."""
    from skills_store.export_legacy import SPAN_RUNNERS_BEFORE_OVERLAP

    now = (MAIN, span_runner())
    return now + tuple(block.replace(*_LEGACY_READ) for block in now) + SPAN_RUNNERS_BEFORE_OVERLAP


def _portable(function) -> str:
    """FUNCTION's source without annotations (an export runs on any Python 3), its globals as given."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(function))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            node.returns = None
        elif isinstance(node, ast.arg):
            node.annotation = None
    return ast.unparse(tree)


def span_runner() -> str:
    """The export's command-line block for a span skill that reads only the start of a text: the pieces
    are cut by engine/masking.py's own code, so the export and `skills run` find the same spans."""
    from engine import masking

    return (f"\n\n_CUTS = {masking.CUTS!r}\n_OVERLAP = {masking.OVERLAP!r}\n\n\n"
            + _portable(masking.pieces).replace("def pieces(", "def _pieces(").replace("CUTS", "_CUTS")
            .replace("OVERLAP", "_OVERLAP")
            + "\n\n\n" + _portable(masking.joined).replace("def joined(", "def _joined(")
            + "\n" + SPAN_MAIN)


def _key(v: SkillVersion) -> str:
    """The version's selection metric: span F1 for span skills (their metrics hold overlap_f1), else MCC."""
    try:
        from tasks import task_spec

        kind = task_spec(v.task).kind
    except Exception:  # noqa: BLE001 - an unknown task name: read the metrics
        kind = "spans" if "overlap_f1" in v.metrics.get("validation", {}) else "classification"
    return selection_key(kind)


def _metric(v: SkillVersion, split: str, key: str = "mcc") -> str:
    value = v.metrics.get(split, {}).get(key)
    return "-" if value is None else f"{value:.3f}"


def _scores(v: SkillVersion) -> str:
    key = _key(v)
    if key != "f1":
        return f"validation MCC {_metric(v, 'validation')}, test MCC {_metric(v, 'test')}"
    return (f"span F1 (exact) validation {_metric(v, 'validation', 'f1')} (precision "
            f"{_metric(v, 'validation', 'precision')}, recall {_metric(v, 'validation', 'recall')}), test "
            f"{_metric(v, 'test', 'f1')}; capitalised-token baseline F1 on test {_metric(v, 'test', 'baseline_capitalised_f1')}")


def standalone(v: SkillVersion, dependencies: list[SkillVersion]) -> str:
    from engine.masking import read_limit

    long_texts = _key(v) == "f1" and read_limit(v.code) is not None  # a span skill that reads only a text's start
    header = (
        f'"""{v.name}@{v.version}: {v.description or "a skillkiln skill"}\n\n'
        f"Exported from skillkiln on {date.today().isoformat()}. Task {v.task}; "
        f"{_scores(v)}; code sha256 {v.code_sha256[:12]}.\n"
        f'Run it: python THIS_FILE "a sentence"   (or pipe one text per line on stdin)\n'
        + (f"From Python: solve_whole(text) for a text of any length; solve(text) reads its first "
           f"{read_limit(v.code)} characters.\n" if long_texts else "")
        + '"""\n'
    )
    parts = [header, loader([(f"{dep.name}@{dep.version}", dep.code) for dep in dependencies])]
    parts += [SKILL_START, v.code.rstrip("\n") + "\n", "\n\n", SKILL_END, span_runner() if long_texts else MAIN]
    return "".join(parts)


def loader(libraries: list[tuple[str, str]]) -> str:
    """The export's code that makes `from skills import NAME` work: each (NAME@V, code), dependencies first."""
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


def wrapper_problem(text: str, libraries: dict[str, tuple[str, str]]) -> str:
    """What in an export (skill_source(TEXT) says it is one) lies outside its markers and is not what
    `skills export` writes there, or "". LIBRARIES: embedded_libraries(TEXT). `skills check` judges only
    the code between the markers, and `python3 export.py` runs the whole file: anything else outside
    them would run unjudged."""
    import ast

    start, end = text.find(SKILL_START), text.find(SKILL_END)
    if text[end + len(SKILL_END):] not in command_blocks():
        return "what follows the skill's code is not the command-line block `skills export` writes"
    head = text[:start]
    try:
        body = ast.parse(head).body
    except SyntaxError:
        body = []
    if not body or not (isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                        and isinstance(body[0].value.value, str)):
        return "it does not start with the docstring `skills export` writes"
    lines = head.splitlines(keepends=True)
    last = lines[body[0].end_lineno - 1].encode()[:body[0].end_col_offset].decode()  # the offset counts UTF-8 bytes
    after = head[sum(map(len, lines[:body[0].end_lineno - 1])) + len(last):]
    if after != "\n" + loader(list(libraries.values())):
        return "what comes before the skill's code is not the docstring and library loader `skills export` writes"
    return ""


def embedded_libraries(text: str) -> dict[str, tuple[str, str]]:
    """The stored skills an export carries for `from skills import NAME`: import name -> (NAME@V, code),
    read from its `exec(compile(CODE, "NAME@V", "exec"), ...)` lines, dependencies first."""
    import ast

    head = text[:max(text.find(SKILL_START), 0)]
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


def skill_source(text: str) -> tuple[str, bool]:
    """The skill's own code in TEXT, and whether TEXT is an export: an export's stored code without
    its docstring header, its dependency loader and its command-line block; any other text unchanged."""
    start, end = text.find(SKILL_START), text.find(SKILL_END)
    if start < 0 or end < start:
        return text, False
    return text[start + len(SKILL_START):end].rstrip("\n") + "\n", True
