"""From a model's answer to a candidate skill's source.

A model answers with one fenced ```python block holding the whole skill, or with
SEARCH/REPLACE edits against the parent it was shown:

    <<<<<<< SEARCH
    lines copied from the parent
    =======
    the lines that replace them
    >>>>>>> REPLACE

`parse_answer` strips reasoning blocks (`<think>...</think>`), extracts the code, and runs the
same static check the gate runs before any execution (sandbox.static.check_source: syntax, a
top-level `solve(text)`, the import allow-list, RestrictedPython, the size cap). Whatever goes
wrong comes back as a stable `kind` and a one-line `error` that the repair round shows the model.
"""
from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

from sandbox.static import check_source

# failure kinds, in the order a reader meets them
KINDS = ("no_code", "truncated", "edit_mismatch", "syntax", "no_solve", "import", "restricted", "too_large")

_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.S | re.I)
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*([\w+.-]*)\s*$")
# the three marker lines of an edit, read line by line (find_edits): one regex over the whole answer
# with two lazy groups took time cubic in its length (26 s for 16 kB of looping edits, a small model's
# answer at max_tokens)
_SEARCH_LINE = re.compile(r"[ \t]*<{5,9}[ \t]*SEARCH[ \t]*")
_DIVIDER_LINE = re.compile(r"[ \t]*={5,9}[ \t]*")
_REPLACE_LINE = re.compile(r"[ \t]*>{5,9}[ \t]*REPLACE[ \t]*")
_EDIT_MARK = re.compile(r"^[ \t]*<{5,9}[ \t]*SEARCH\b", re.M)
_CODE_START = re.compile(r"^(?:import |from \w|def |class |[A-Za-z][A-Za-z0-9_]* *=|@)")
PYTHON_LANGS = ("", "python", "py", "python3")


@dataclass(frozen=True)
class Parsed:
    ok: bool
    code: str  # the candidate's source; when nothing usable was found, the answer itself (it fails the gate)
    mode: str  # block, edits, bare, none
    kind: str = ""  # "" when ok, else one of KINDS
    error: str = ""  # one line, shown to the model in the repair round
    thought: bool = False  # a <think> block was stripped


def strip_think(text: str) -> tuple[str, bool]:
    """The answer without reasoning blocks; True when one was there.

    Closed blocks go; a stray `</think>` (the template opened the block) drops what comes before
    it; an unclosed `<think>` (the model ran out while thinking) drops what comes after it."""
    stripped = _THINK_BLOCK.sub("", text)
    found = stripped != text
    low = stripped.lower()
    if "</think>" in low:
        stripped = stripped[low.rindex("</think>") + len("</think>"):]
        found = True
        low = stripped.lower()
    if "<think>" in low:
        stripped = stripped[: low.index("<think>")]
        found = True
    return stripped.strip(), found


@dataclass(frozen=True)
class Block:
    lang: str
    code: str
    closed: bool


def code_blocks(text: str) -> list[Block]:
    """Fenced blocks, in order; an unclosed last block runs to the end of the text."""
    lines = text.split("\n")
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang = m.group(1), m.group(2).lower()
        body: list[str] = []
        i += 1
        closed = False
        while i < len(lines):
            stripped = lines[i].strip()
            if stripped.startswith(fence[0] * 3) and not stripped.strip(fence[0]):
                closed = True
                break
            body.append(lines[i])
            i += 1
        blocks.append(Block(lang, textwrap.dedent("\n".join(body)).strip("\n") + "\n", closed))
        i += 1
    return blocks


def find_edits(text: str) -> list[tuple[str, str]]:
    """The (search, replace) texts of every complete edit, each line with its newline, in one pass."""
    edits: list[tuple[str, str]] = []
    state, search, replace = "", [], []
    for line in text.split("\n"):
        if not state:
            if _SEARCH_LINE.fullmatch(line):
                state, search = "search", []
        elif state == "search":
            if _DIVIDER_LINE.fullmatch(line):
                state, replace = "replace", []
            else:
                search.append(line + "\n")
        elif _REPLACE_LINE.fullmatch(line):
            edits.append(("".join(search), "".join(replace)))
            state = ""
        else:
            replace.append(line + "\n")
    return edits


def apply_edits(parent: str, text: str) -> tuple[str | None, str]:
    """Apply every SEARCH/REPLACE edit in TEXT to PARENT: (new code, "") or (None, why not)."""
    edits = find_edits(text)
    if not edits:
        return None, "the SEARCH/REPLACE block is incomplete: each edit needs '<<<<<<< SEARCH', '=======' and '>>>>>>> REPLACE' lines"
    code = parent
    for n, (search, replace) in enumerate(edits, 1):
        if not search.strip():
            return None, f"edit {n}: the SEARCH part is empty; copy the exact lines to replace from parent 1"
        if search in code:
            code = code.replace(search, replace, 1)
            continue
        # the same lines up to trailing spaces (and a missing final newline)
        want = [ln.rstrip() for ln in search.rstrip("\n").split("\n")]
        have = code.split("\n")
        for start in range(len(have) - len(want) + 1):
            if [ln.rstrip() for ln in have[start:start + len(want)]] == want:
                new = replace.rstrip("\n").split("\n") if replace.strip() else []
                have[start:start + len(want)] = new
                code = "\n".join(have)
                break
        else:
            first = next((ln for ln in search.split("\n") if ln.strip()), "")
            return None, f"edit {n}: its SEARCH lines are not in parent 1 (first line: {first.strip()[:80]!r}); SEARCH must copy parent 1 exactly"
    return code, ""


def _static(code: str) -> tuple[str, str]:
    """("", "") when the code passes the static gate, else (kind, one-line error)."""
    result = check_source(code)
    if result.ok:
        return "", ""
    detail = result.detail
    if result.reason == "syntax":
        m = re.match(r"line (\d+)", detail)
        lines = code.split("\n")
        if m and 0 < int(m.group(1)) <= len(lines):
            detail += f": {lines[int(m.group(1)) - 1].strip()[:100]!r}"
    return result.reason, f"{result.reason}: {detail}".replace("\n", " ")


def _bare_code(text: str) -> str | None:
    """Code written without a fence: from the first line that starts a statement."""
    if "def solve" not in text:
        return None
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if _CODE_START.match(line):
            return "\n".join(lines[i:]).strip("\n") + "\n"
    return None


def _without_trailing_prose(code: str) -> str:
    """Bare code less the unindented lines of prose after it ("This skill counts ...")."""
    lines = code.rstrip("\n").split("\n")
    while lines and (not lines[-1].strip() or not (lines[-1][:1].isspace() or _CODE_START.match(lines[-1])
                                                      or lines[-1].lstrip().startswith(("#", ")", "]", "}")))):
        lines.pop()
    return "\n".join(lines) + "\n"


def parse_answer(answer: str, parent_code: str | None = None) -> Parsed:
    answer = answer.replace("\r\n", "\n")  # Windows line ends: the edit markers are matched line by line
    text, thought = strip_think(answer)
    fallback = text or answer  # what goes to the gate when nothing usable is found

    if _EDIT_MARK.search(text):
        if parent_code is None:
            return Parsed(False, fallback, "edits", "edit_mismatch",
                          "SEARCH/REPLACE edits need a parent and none was given: send the whole skill in one ```python block", thought)
        code, why = apply_edits(parent_code, text)
        if code is None:
            return Parsed(False, fallback, "edits", "edit_mismatch", why, thought)
        kind, error = _static(code)
        return Parsed(not kind, code, "edits", kind, error, thought)

    blocks = [b for b in code_blocks(text) if b.lang in PYTHON_LANGS]
    if blocks:
        with_solve = [b for b in blocks if re.search(r"^def solve\b", b.code, re.M)]
        block = with_solve[-1] if with_solve else max(blocks, key=lambda b: len(b.code))
        kind, error = _static(block.code)
        if kind and not block.closed:
            return Parsed(False, block.code, "block", "truncated",
                          f"the code block is not closed and the code is cut off ({error})", thought)
        return Parsed(not kind, block.code, "block", kind, error, thought)

    bare = _bare_code(text)
    if bare is not None:
        kind, error = _static(bare)
        if kind == "syntax" and (trimmed := _without_trailing_prose(bare)) != bare:
            kind2, error2 = _static(trimmed)
            if kind2 != "syntax":  # the model explained its code after it: the code is the skill
                bare, kind, error = trimmed, kind2, error2
        return Parsed(not kind, bare, "bare", kind, error, thought)
    return Parsed(False, fallback, "none", "no_code", "the answer holds no ```python code block with a def solve(text)", thought)
