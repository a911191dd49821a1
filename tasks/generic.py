"""User-defined classification tasks: `file:PATH` (CSV, TSV, JSON lines) or `hf:NAME` (a hub dataset),
with a text column and a label column. Loaded through `datasets`.

Splits: a hub dataset's own train / validation / test where it has them; otherwise carved
from what there is with a fixed seed (80/10/10, stratified). Labels are the sorted distinct
values of the label column.
"""
from __future__ import annotations

import csv
import glob
import math
import tempfile
from collections import Counter
from pathlib import Path

from engine.errors import SkillkilnError
from engine.records import Example, Split, Task
from tasks.hub import hub_resolvable, quiet_datasets, root_cause
from tasks.splits import stratified_split

SPLIT_SEED = 7
FORMATS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json"}


def _no_value(value) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def _examples(rows, text_col: str, label_col: str, where: str) -> list[Example]:
    columns = set(rows.column_names)
    missing = [c for c in (text_col, label_col) if c not in columns]
    if missing:  # a name with spaces around it is quoted, else 'text ' reads as 'text'
        shown = ", ".join(c if c == c.strip() and c else repr(c) for c in sorted(columns))
        raise SkillkilnError(f"{where} has no column {missing[0]!r}; its columns: {shown}"
                             " (choose with --text-col and --label-col)")
    picked = rows.select_columns([text_col, label_col])[:]  # two columns as lists: 0.05 s for 200k rows, where a
    texts, labels = picked[text_col], picked[label_col]  # dict per row of every column took 2.3 s and more memory
    textless = sum(1 for t in texts if t is None)
    if textless:  # a JSON null (a CSV's empty field is an empty text, as in JSON "")
        raise SkillkilnError(f"{where}: {textless} of {len(texts)} rows have no {text_col!r} value; "
                             "give them a text (\"\" for an empty one) or leave them out")
    unlabelled = sum(1 for y in labels if _no_value(y))
    if unlabelled:  # as a label, None (or NaN, never equal to itself) would be a class of its own
        raise SkillkilnError(f"{where}: {unlabelled} of {len(texts)} rows have no {label_col!r} value; "
                             "label them or leave them out")
    odd = next((y for y in labels if type(y) not in (str, int, float, bool)), None)
    if odd is not None:
        raise SkillkilnError(f"{where}: column {label_col!r} holds {type(odd).__name__} values; a label is a "
                             "string or a number")
    shaped = next((t for t in texts if isinstance(t, (list, dict))), None)
    if shaped is not None:  # its repr ("['a', 'list']") would have been the text
        raise SkillkilnError(f"{where}: column {text_col!r} holds {type(shaped).__name__} values; a text is a string")
    return [Example(str(t), y) for t, y in zip(texts, labels, strict=True)]


def _carve(pool: list[Example]) -> tuple[Split, Split, Split]:
    rest, test = stratified_split(pool, holdout=0.1, seed=SPLIT_SEED)
    train, validation = stratified_split(list(rest.examples), holdout=1 / 9, seed=SPLIT_SEED + 1)
    return train, validation, Split("test", test.examples)


def _task(name: str, train: Split, validation: Split, test: Split, source: str) -> Task:
    counts = Counter(e.label for e in train.examples + validation.examples + test.examples)
    labels = tuple(sorted(counts, key=repr))
    if len(labels) < 2:
        raise SkillkilnError(f"task {name} has fewer than two distinct labels; nothing to classify")
    return Task(name=name, kind="classification", description=f"Classify each text into one of {list(labels)}.",
                labels=labels, train=train, validation=validation, test=test,
                metric="mcc" if len(labels) == 2 else "accuracy", source=source,
                notes=label_notes(counts))


MISSING_WORDS = {"na", "n/a", "nan", "null", "?"}  # a table's ways to write "no value", kept as text (a label)


def label_notes(counts: Counter) -> tuple[str, ...]:
    """Labels that are likely one class written two ways ('no' and 'No ') or a missing value written as a
    word ('NA'): each is a class of its own, which the user should know before a run, not after it."""
    notes = []
    forms: dict[str, list[str]] = {}
    for label in counts:
        if isinstance(label, str):
            forms.setdefault(label.strip().casefold(), []).append(label)
    for same in forms.values():
        if len(same) > 1:
            shown = " and ".join(f"{y!r} ({counts[y]:,} rows)" for y in sorted(same))
            notes.append(f"labels {shown} differ only in case or spaces: each is a class of its own here; "
                         "write them one way in the file if they mean one")
    for label in sorted((y for y in counts if isinstance(y, str) and y.strip().casefold() in MISSING_WORDS), key=repr):
        notes.append(f"label {label!r} ({counts[label]:,} rows) reads like a missing value; it is a class of its "
                     "own here (leave those rows out if they have no label)")
    return tuple(notes)


def header_of(file: Path, delimiter: str) -> list[str]:
    """A CSV or TSV file's column names as its first line gives them ([] if it cannot be read)."""
    try:
        with file.open(encoding="utf-8-sig", newline="") as handle:
            return next(csv.reader(handle, delimiter=delimiter), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


def first_bad_json_line(file: Path) -> str:
    """Where a JSON-lines file goes wrong, in its own terms ("line 51 is not a JSON object"), or "": datasets
    said "Column() changed from object to string in row 0" of a line 51 holding a bare string."""
    import json

    try:
        with file.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    return f"line {number} is not JSON: {exc.msg}"
                if not isinstance(row, dict):
                    return f"line {number} is a JSON {type(row).__name__}, not an object"
    except (OSError, UnicodeDecodeError):
        return ""
    return ""


def load_file(path: str, text_col: str, label_col: str) -> Task:
    datasets = quiet_datasets()
    if not path.strip():
        raise SkillkilnError("file: names no file (write --task file:PATH)")
    file = Path(path).expanduser().resolve()
    if file.is_dir():
        raise SkillkilnError(f"task file {file} is a folder; name a .csv, .tsv, .json or .jsonl file in it")
    if not file.is_file():
        raise SkillkilnError(f"task file {file} does not exist")
    builder = FORMATS.get(file.suffix.lower())
    if builder is None:
        raise SkillkilnError(f"task file {file}: use .csv, .tsv, .json or .jsonl")
    if file.stat().st_size == 0:
        raise SkillkilnError(f"task file {file} is empty")
    # a TSV is read literally: a quote is a character of the text (CoLA's files hold unpaired ones); read as
    # a CSV quote it would run across lines and merge rows
    # pandas would read an empty field, and texts such as "NA", "null" or "None", as missing: a text is kept as written
    if builder == "csv":
        header = header_of(file, "\t" if file.suffix.lower() == ".tsv" else ",")
        twice = [c for c in (text_col, label_col) if header.count(c) > 1]
        if twice:  # pandas renames the second `label` to `label.1`, silently: which one was meant?
            raise SkillkilnError(f"task file {file} has {header.count(twice[0])} columns named {twice[0]!r}; "
                                 "rename all but one")
    # and the text column is taken as a string as written: pandas read 077778 as 77778, 75.50 as 75.5 (and a
    # 22-digit id not at all) when every text of the column looked like a number
    kwargs = {"keep_default_na": False, "converters": {text_col: str}} if builder == "csv" else {}
    if file.suffix.lower() == ".tsv":
        kwargs |= {"delimiter": "\t", "quoting": csv.QUOTE_NONE}
    try:
        # escaped: datasets reads data_files as a glob, so `run[1]/x.csv` read run1/x.csv and `train*.csv` every match.
        # A cache of its own, dropped after: datasets knows a local file by its path and mtime, so a file replaced
        # by one with the same mtime (cp -p, rsync -a, an archive) was served from the old rows; and each version
        # of every file was kept in ~/.cache for good
        with tempfile.TemporaryDirectory(prefix="skillkiln-datasets-") as cache:
            rows = datasets.load_dataset(builder, data_files=glob.escape(str(file)), split="train", cache_dir=cache,
                                         keep_in_memory=True, **kwargs)
    except Exception as exc:  # noqa: BLE001 - a malformed file raises many types
        if "corresponds to no data" in str(exc):  # datasets' words for a header and no rows
            raise SkillkilnError(f"task file {file} has no rows") from None
        where = first_bad_json_line(file) if file.suffix.lower() == ".jsonl" else ""
        raise SkillkilnError(f"task file {file} could not be read ({where or root_cause(exc)})") from None
    train, validation, test = _carve(_examples(rows, text_col, label_col, str(file)))
    return _task(f"file:{file}", train, validation, test, f"file:{file}")


def load_hub(name: str, text_col: str, label_col: str) -> Task:
    datasets = quiet_datasets()

    if not hub_resolvable():
        raise SkillkilnError(f"hf:{name} could not be loaded: the hub is not reachable from here (try file:PATH)")
    try:
        ds = datasets.load_dataset(name)
    except Exception as exc:  # noqa: BLE001
        raise SkillkilnError(f"hf:{name} could not be loaded ({root_cause(exc)})") from None
    splits = {s: _examples(ds[s], text_col, label_col, f"hf:{name}") for s in ds}
    if {"train", "validation", "test"} <= set(splits) and all(
            e.label not in (-1, None) for e in splits["test"]):
        return _task(f"hf:{name}", Split("train", tuple(splits["train"])),
                     Split("validation", tuple(splits["validation"])), Split("test", tuple(splits["test"])),
                     f"hub:{name}")
    train, validation, test = _carve(splits.get("train") or next(iter(splits.values())))
    return _task(f"hf:{name}", train, validation, test, f"hub:{name}")
