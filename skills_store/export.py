"""Export a stored skill as one standalone .py module that runs without skillkiln, under the sandbox's guards.

An export holds, in this order: a docstring; the sandbox's guards, copied from its harness
(skills_store/export_guards.py), and the stored skills the skill imports (LIBRARIES); the skill's own
code as a string (SKILL); the lines that load it through the guards' `load_code`, and its command-line
use. Python 3.10 or later runs it. `skills check` takes the code back out of an export and refuses one
with anything outside the code that `skills export` would not write there. Exports written before the
guards (skills_store/export_legacy.py) are still read.
"""
from __future__ import annotations

import ast
from datetime import date

from engine.errors import SkillkilnError
from engine.records import SkillVersion, selection_key
from sandbox.image import PYTHON
from skills_store import export_legacy as legacy
from skills_store.export_guards import guard_code, portable
from skills_store.store import library_name, sha256

# The parts of an export start at these lines, so `skills check` can take the code back out of one.
GUARDS_START = "# ---- skillkiln: the sandbox's guards, copied from its harness (not part of the skill) ----\n"
SKILL_START = "# ---- skillkiln: the skill's own code, run under the guards above ----\n"
SKILL_END = "# ---- skillkiln: loading the skill under the guards, and command-line use (not part of the skill) ----\n"

# SKILL and each library's code start with a newline that is not theirs, so that the code starts on a line of its own
LOAD = f'''
if sys.version_info[:2] != {tuple(map(int, PYTHON.split(".")))!r}:  # another Python's modules may tell the skill apart
    import warnings

    warnings.warn("this skill was judged by skillkiln's sandbox on Python {PYTHON}; on another Python its answers "
                  "may differ", RuntimeWarning, stacklevel=2)
_namespace = load_code(SKILL.removeprefix("\\n"), {{name: code.removeprefix("\\n") for name, (_, code) in LIBRARIES.items()}},
                       ALLOWED_IMPORTS)
solve = _namespace["solve"]
'''
SPAN_LIMIT = 'MAX_CHARS = _namespace["MAX_CHARS"]  # how much of a text solve() reads\n'


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


def command_blocks() -> tuple[str, ...]:
    """The blocks `skills export` writes after a skill's code: loading it, then command-line use."""
    return LOAD + legacy.MAIN, LOAD + SPAN_LIMIT + span_runner()


def span_runner() -> str:
    """The export's command-line block for a span skill that reads only the start of a text: the pieces
    are cut by engine/masking.py's own code, so the export and `skills run` find the same spans."""
    from engine import masking

    return (f"\n\n_CUTS = {masking.CUTS!r}\n_OVERLAP = {masking.OVERLAP!r}\n\n\n"
            + portable(masking.pieces).replace("def pieces(", "def _pieces(").replace("CUTS", "_CUTS")
            .replace("OVERLAP", "_OVERLAP")
            + "\n\n\n" + portable(masking.joined).replace("def joined(", "def _joined(")
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


def code_literal(code: str) -> str:
    """A newline, then CODE, as a Python literal a reader can read: a raw triple-quoted string where one holds
    it exactly, else one quoted line a row in brackets. The newline is not the code's (LOAD drops it)."""
    text = "\n" + code
    if "\r" not in text and "\x00" not in text:  # a file read back turns a "\r" into "\n"
        for quote in ("\'\'\'", '"""'):
            literal = f"r{quote}{text}{quote}"
            try:
                if ast.literal_eval(literal) == text:
                    return literal
            except (SyntaxError, ValueError):
                pass
    return "(\n" + "".join(f"    {line!r}\n" for line in text.splitlines(keepends=True)) + ")"


def libraries_block(libraries: list[tuple[str, str]]) -> str:
    """LIBRARIES: each (NAME@V, code) a skill imports as `from skills import NAME`, dependencies first."""
    if not libraries:
        return "\n\nLIBRARIES = {}  # the stored skills the skill imports as `from skills import NAME`: none\n\n\n"
    parts = ["\n\n# the stored skills the skill imports as `from skills import NAME`, pinned by version, dependencies "
             "first:\n# import name -> (NAME@VERSION, code); the guards run each as they run the skill\nLIBRARIES = {}\n"]
    for ref, code in libraries:
        name = library_name(ref.rpartition("@")[0])
        parts.append(f"# {ref}, sha256 {sha256(code)[:12]}\nLIBRARIES[{name!r}] = ({ref!r}, {code_literal(code)})\n")
    return "".join(parts) + "\n\n"


def _skill_part(code: str) -> str:
    return f"SKILL = {code_literal(code)}\n\n\n"


def docstring_literal(text: str) -> str:
    """TEXT as a triple-quoted string literal that holds it exactly: backslashes, quotes and characters that are
    not printable are escaped, so nothing in TEXT (a skill's description is made from its own docstring and
    strings) can end the literal and run as code (export audit: a description holding \"\"\" did)."""
    def escaped(char: str) -> str:
        if char == "\n" or (char.isprintable() and char not in "\\\""):
            return char
        if char in "\\\"":
            return "\\" + char
        return char.encode("unicode_escape").decode("ascii")

    literal = '"""' + "".join(map(escaped, text)) + '"""'
    if ast.literal_eval(literal) != text:  # by construction it does; a change that broke it must not write files
        raise SkillkilnError("the export's docstring could not be written as a literal")
    return literal


def standalone(v: SkillVersion, dependencies: list[SkillVersion]) -> str:
    """The export of V (importing DEPENDENCIES, dependencies first); it is refused, and nothing is written, unless
    `skills check` would take it as what `skills export` writes and find V's code in it."""
    from engine.masking import read_limit

    long_texts = _key(v) == "f1" and read_limit(v.code) is not None  # a span skill that reads only a text's start
    header = docstring_literal(
        f"{v.name}@{v.version}: {v.description or 'a skillkiln skill'}\n\n"
        f"Exported from skillkiln on {date.today().isoformat()}. Task {v.task}; "
        f"{_scores(v)}; code sha256 {v.code_sha256[:12]}.\n"
        f'Run it: python3 -I THIS_FILE "a sentence"   (or pipe one text per line on stdin); Python {PYTHON}, '
        "as the sandbox's.\n"
        + (f"From Python: solve_whole(text) for a text of any length; solve(text) reads its first "
           f"{read_limit(v.code)} characters.\n" if long_texts else "From Python: solve(text).\n")
        + "The skill's code (SKILL) runs under the sandbox's guards, as the gate ran it: imports from the same\n"
          "allow-list, as copies of their modules; no open, eval or exec; no `_` attributes; attributes set only\n"
          "on its own objects. Not its time and memory bounds: this file is not a sandbox.\n"
    )
    code = v.code.rstrip("\n") + "\n"
    blocks = command_blocks()
    text = "".join([header, _after_docstring([(f"{dep.name}@{dep.version}", dep.code) for dep in dependencies]),
                    SKILL_START, _skill_part(code), SKILL_END, blocks[1] if long_texts else blocks[0]])
    libraries = embedded_libraries(text)
    if (skill_source(text) != (code, True) or wrapper_problem(text, libraries)
            or libraries != {library_name(d.name): (f"{d.name}@{d.version}", d.code) for d in dependencies}):
        raise SkillkilnError(f"{v.name}@{v.version} could not be exported: the file would not hold its code as "
                             "`skills check` reads it (nothing was written)")
    return text


def _after_docstring(libraries: list[tuple[str, str]]) -> str:
    """What an export holds between its docstring and its skill's code: the guards, then LIBRARIES."""
    return "\n\n" + GUARDS_START + guard_code() + libraries_block(libraries)


def as_python_reads(text: str) -> str:
    """TEXT with its line ends as Python reads a source file: \\r\\n and a lone \\r are \\n. A file saved with
    Windows line ends is the same program; `skills check` reads it so."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


# each format's markers around the skill's code
MARKERS = {"guarded": (SKILL_START, SKILL_END), "legacy": (legacy.SKILL_START, legacy.SKILL_END)}


def export_format(text: str) -> str:
    """"guarded" for an export `skills export` writes now, "legacy" for one written before the guards, else ""."""
    for name, (start, end) in MARKERS.items():
        at, to = text.find(start), text.find(end)
        if at >= 0 and to > at:
            return name
    return ""


def _parts(text: str, kind: str) -> tuple[str, str, str]:
    """An export's head (up to its skill's code), the code's part and the tail (from the end marker on)."""
    start, end = MARKERS[kind]
    at, to = text.find(start), text.find(end)
    return text[:at], text[at + len(start):to], text[to + len(end):]


def _skill_string(part: str) -> str | None:
    """The code a guarded export's `SKILL = LITERAL` part holds, or None if the part is not that."""
    try:
        body = ast.parse(part).body
    except SyntaxError:
        return None
    if (len(body) == 1 and isinstance(body[0], ast.Assign) and [getattr(t, "id", None) for t in body[0].targets] == ["SKILL"]
            and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
        return body[0].value.value.removeprefix("\n")
    return None


def skill_source(text: str) -> tuple[str, bool]:
    """The skill's own code in TEXT, and whether TEXT is an export: an export's stored code without the rest of
    the file; any other text unchanged. (An export's part that holds no `SKILL = LITERAL` comes back as it is,
    and wrapper_problem refuses it.)"""
    kind = export_format(text)
    if not kind:
        return text, False
    _, part, _ = _parts(text, kind)
    code = _skill_string(part) if kind == "guarded" else part
    return (part if code is None else code).rstrip("\n") + "\n", True


def embedded_libraries(text: str) -> dict[str, tuple[str, str]]:
    """The stored skills an export carries for `from skills import NAME`: import name -> (NAME@V, code),
    dependencies first."""
    kind = export_format(text)
    head = _parts(text, kind)[0] if kind else ""
    if kind != "guarded":
        return legacy.embedded_libraries(head)
    found: dict[str, tuple[str, str]] = {}
    try:
        body = ast.parse(head).body
    except SyntaxError:
        return found
    for node in body:  # LIBRARIES['NAME'] = ('NAME@V', CODE)
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(target := node.targets[0], ast.Subscript)
                and getattr(target.value, "id", None) == "LIBRARIES" and isinstance(target.slice, ast.Constant)
                and isinstance(node.value, ast.Tuple) and len(node.value.elts) == 2
                and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.value.elts)):
            ref, code = (e.value for e in node.value.elts)
            found[str(target.slice.value)] = (ref, code.removeprefix("\n"))
    return found


def _docstring_end(head: str) -> int | None:
    """Where HEAD's opening docstring ends (an offset into HEAD), or None if it does not open with one."""
    try:
        body = ast.parse(head).body
    except SyntaxError:
        return None
    if not body or not (isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                        and isinstance(body[0].value.value, str)):
        return None
    lines = head.splitlines(keepends=True)
    last = lines[body[0].end_lineno - 1].encode()[:body[0].end_col_offset].decode()  # the offset counts UTF-8 bytes
    return sum(map(len, lines[:body[0].end_lineno - 1])) + len(last)


def wrapper_problem(text: str, libraries: dict[str, tuple[str, str]]) -> str:
    """What in an export (skill_source(TEXT) says it is one) lies outside its skill's code and is not what
    `skills export` writes there, or "". LIBRARIES: embedded_libraries(TEXT). `skills check` judges only the
    skill's code, and `python3 export.py` runs the whole file: anything else there would run unjudged."""
    kind = export_format(text)
    head, part, tail = _parts(text, kind)
    if not text.startswith('"""'):  # nothing before the docstring: no coding comment, which python3 would honour
        return "it does not start with the docstring `skills export` writes"
    if kind == "guarded":
        code = _skill_string(part)
        if code is None or part != _skill_part(code):
            return "the skill's code is not the `SKILL = ...` string `skills export` writes"
        blocks, after_docstring = command_blocks(), _after_docstring(list(libraries.values()))
    else:
        blocks, after_docstring = legacy.command_blocks(span_runner()), "\n" + legacy.loader(list(libraries.values()))
    if tail not in blocks:
        return "what follows the skill's code is not the block `skills export` writes"
    end = _docstring_end(head)
    if end is None:
        return "it does not start with the docstring `skills export` writes"
    if head[end:] != after_docstring:
        if kind == "guarded" and not head[end:].startswith("\n\n" + GUARDS_START + guard_code()):
            return ("the sandbox's guards it carries are not this skillkiln's (an export from another version, "
                    "or an edited one)")
        return "what comes before the skill's code is not what `skills export` writes there"
    return ""
