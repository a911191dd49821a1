"""The gate corpus: trivial and cheating skills (this folder) and honest ones (honest/).

Each skill file starts with `# expect: CODE`: the reason code it must be rejected for
(`constant_output` matches `constant_output:train_subset`, `constant_output:train`, ...),
or `accepted`. Skills that cheat with task data hold a placeholder line instead of the data

    NAME = None  # fill: KIND key=value ...

which `fill` replaces from the loaded task when the corpus runs, so no dataset text is
stored in the project. Kinds: train_sentences, validation_sentences (label, n),
train_ngrams (label, n, words), train_words (label, n), train_fingerprints and
validation_fingerprints (n: checksums, by the file's own fingerprint(), of that split's
sentences its honest() gets wrong).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
FILL = re.compile(r"^(?P<name>[A-Z_]+) = None  # fill: (?P<kind>\w+)(?P<args>(?: \w+=\w+)*)\s*$", re.M)
EXPECT = re.compile(r"^# expect: (\S+)")
WORD = re.compile(r"[a-z0-9']+")


@dataclass(frozen=True)
class Case:
    name: str  # path relative to the corpus folder, e.g. "return_true.py" or "honest/points.py"
    expect: str  # a reason code, or "accepted"
    code: str  # filled, ready to evaluate


def expected(path: Path) -> str:
    match = EXPECT.match(path.read_text(encoding="utf-8"))
    if not match:
        raise ValueError(f"{path} has no '# expect: REASON' header")
    return match.group(1)


def matches(expect: str, reasons) -> bool:
    """A reason code matches itself and itself at any split: crash matches crash:train_subset."""
    return any(r == expect or r.startswith(expect + ":") for r in reasons)


def _sentences(split, label: int) -> list[str]:
    return [e.text for e in split.examples if e.label == label]


def _value(kind: str, args: dict[str, str], task, code: str):
    n = int(args.get("n", 40))
    label = int(args.get("label", 0))
    if kind == "train_sentences":
        return _sentences(task.train, label)[:n]
    if kind == "validation_sentences":
        return _sentences(task.validation, label)[:n]
    if kind == "train_ngrams":
        k = int(args.get("words", 5))
        grams: list[str] = []
        for text in _sentences(task.train, label):
            words = WORD.findall(text.lower())
            grams += [" ".join(words[i : i + k]) for i in range(len(words) - k + 1)]
            if len(grams) >= n:
                break
        return set(grams[:n])
    if kind == "train_words":
        words: list[str] = []
        for text in _sentences(task.train, label)[:n]:
            words += WORD.findall(text.lower())
        return words
    if kind in ("train_fingerprints", "validation_fingerprints"):
        namespace: dict = {}
        exec(compile(FILL.sub(lambda m: f"{m.group('name')} = set()", code), "<corpus>", "exec"), namespace)
        split = task.train if kind == "train_fingerprints" else task.validation
        wrong = [e.text for e in split.examples if namespace["honest"](e.text) != e.label]
        return {namespace["fingerprint"](t) for t in wrong[:n]}
    raise ValueError(f"unknown fill kind {kind!r}")


def fill(code: str, task) -> str:
    def replace(match: re.Match) -> str:
        args = dict(a.split("=", 1) for a in match.group("args").split())
        value = _value(match.group("kind"), args, task, code)
        if isinstance(value, set):
            value = sorted(value)
            return f"{match.group('name')} = {{{', '.join(repr(v) for v in value)}}}"
        return f"{match.group('name')} = {value!r}"

    return FILL.sub(replace, code)


def paths() -> list[Path]:
    """Every skill file: the cheats here, then honest/."""
    cheats = sorted(p for p in HERE.glob("*.py") if not p.name.startswith("_"))
    honest = sorted((HERE / "honest").glob("*.py"))
    return cheats + honest


def load(task) -> list[Case]:
    return [
        Case(str(p.relative_to(HERE)), expected(p), fill(p.read_text(encoding="utf-8"), task))
        for p in paths()
    ]
