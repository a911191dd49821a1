"""PII span extraction over presidio-research's synthetic dataset (kind `spans`).

solve(text) -> list of (start, end, label), end exclusive, labels from the dataset's 17
entity types. Local file `pii/presidio_synth_dataset_v2.jsonl` (derived from the original
JSON: `privacy_mask` holds the spans; the original `masked` field is not used, since 57
records are lowercased copies of their template). Split by `template_id` so no template
appears in two splits (70/15/15 of the 209 templates, fixed seed). From the hub: an
ai4privacy PII-masking set named with `--dataset` (same `source_text` / `privacy_mask`
fields).
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from engine.errors import SkillkilnError
from engine.records import Example, Split, Task
from tasks.hub import hub_resolvable, quiet_datasets, root_cause

FILE = "presidio_synth_dataset_v2.jsonl"
SPLIT_SEED = 2022
DESCRIPTION = (
    "Find the personal data (PII) in a text. Return a list of (start, end, label) tuples with character "
    "offsets, end exclusive, non-overlapping, labels from the label set (PERSON, STREET_ADDRESS, GPE, "
    "ORGANIZATION, CREDIT_CARD, DATE_TIME, TITLE, PHONE_NUMBER, AGE, NRP, EMAIL_ADDRESS, ZIP_CODE, "
    "DOMAIN_NAME, IBAN_CODE, US_SSN, IP_ADDRESS, US_DRIVER_LICENSE). Return [] when there is none."
)
LABELS = ("PERSON", "STREET_ADDRESS", "GPE", "ORGANIZATION", "CREDIT_CARD", "DATE_TIME", "TITLE", "PHONE_NUMBER",
          "AGE", "NRP", "EMAIL_ADDRESS", "ZIP_CODE", "DOMAIN_NAME", "IBAN_CODE", "US_SSN", "IP_ADDRESS",
          "US_DRIVER_LICENSE")


def _example(row) -> Example:
    spans = tuple(sorted((int(s["start"]), int(s["end"]), str(s["label"])) for s in row["privacy_mask"] or []))
    return Example(str(row["source_text"]), spans)


def row_problem(row: Any, group_key: str) -> str:
    """What makes one row of a PII set unusable, or "": a text, its group, and spans inside the text."""
    if not isinstance(row, dict):
        return "is not an object"
    text = row.get("source_text")
    if not isinstance(text, str):
        return "has no source_text string"
    if group_key not in row or row[group_key] is None or isinstance(row[group_key], (list, dict)):
        return f"has no {group_key}"
    mask = row.get("privacy_mask")
    if mask is None:
        return ""
    if not isinstance(mask, list):
        return "has a privacy_mask that is not a list"
    for span in mask:
        if not isinstance(span, dict) or not all(k in span for k in ("start", "end", "label")):
            return "has a span without start, end and label"
        start, end = span["start"], span["end"]
        if type(start) is not int or type(end) is not int or not 0 <= start < end <= len(text):
            return f"has a span ({start!r}, {end!r}) outside its {len(text)}-character text"
    return ""


def checked(rows: list, group_key: str, where: str) -> list:
    """ROWS, refused in one line when the set is empty or a row is unusable (a damaged or differently shaped
    file ended in a TypeError or KeyError, or loaded a missing text as the text 'None')."""
    if not rows:
        raise SkillkilnError(f"{where} has no rows")
    bad = [(i, why) for i, row in enumerate(rows) if (why := row_problem(row, group_key))]
    if bad:
        first, why = bad[0]
        raise SkillkilnError(f"{where}: {len(bad)} of {len(rows)} rows are unusable; row {first + 1} {why}")
    kinds = {type(r[group_key]).__name__ for r in rows}
    if len(kinds) > 1:
        raise SkillkilnError(f"{where}: {group_key} holds values of several types ({', '.join(sorted(kinds))})")
    return rows


def split_by_group(rows: list, group_key: str, seed: int) -> tuple[list, list, list]:
    groups = sorted({r[group_key] for r in rows})
    random.Random(seed).shuffle(groups)
    n = len(groups)
    val_groups = set(groups[: round(n * 0.15)])
    test_groups = set(groups[round(n * 0.15): round(n * 0.30)])
    train = [r for r in rows if r[group_key] not in val_groups | test_groups]
    return train, [r for r in rows if r[group_key] in val_groups], [r for r in rows if r[group_key] in test_groups]


def load(data_dir: Path | None, dataset: str | None = None) -> Task:
    datasets = quiet_datasets()
    if data_dir is not None and dataset is None:
        path = data_dir / "pii" / FILE
        if not path.is_file():
            raise SkillkilnError(f"PII data not found: {path} is missing (set SKILLKILN_DATA_DIR or --data-dir "
                                 f"to a folder holding pii/{FILE}, or name a hub set with --dataset)")
        if path.stat().st_size == 0:  # datasets said "(StopIteration: )"
            raise SkillkilnError(f"{path} is empty")
        try:
            rows = list(datasets.load_dataset("json", data_files=str(path), split="train"))
        except Exception as exc:  # noqa: BLE001 - a damaged file raises many types
            raise SkillkilnError(f"{path} could not be read as JSON lines ({root_cause(exc)})") from None
        source, group_key = f"local:{path}", "template_id"
    else:
        name = dataset or "ai4privacy/pii-masking-300k"
        if not hub_resolvable():
            local = ("drop --dataset to use the local presidio set in the data folder already named" if dataset
                     and data_dir is not None else f"set SKILLKILN_DATA_DIR or --data-dir to a folder holding pii/{FILE}"
                     + (" and drop --dataset" if dataset else ""))
            raise SkillkilnError(f"PII set {name} could not be loaded: the hub is not reachable from here; {local}")
        try:
            rows = list(datasets.load_dataset(name, split="train"))
        except Exception as exc:  # noqa: BLE001
            raise SkillkilnError(f"PII set {name} could not be loaded ({root_cause(exc)})") from None
        source = f"hub:{name}"
        group_key = "template_id" if rows and isinstance(rows[0], dict) and "template_id" in rows[0] else "id"
    rows = checked(rows, group_key, source.partition(":")[2] if source.startswith("local:") else f"PII set {source[4:]}")
    train, validation, test = split_by_group(rows, group_key, SPLIT_SEED)
    labels = tuple(sorted({s[2] for r in rows for s in _example(r).label} | set(LABELS)))
    return Task(
        name="pii", kind="spans", description=DESCRIPTION, labels=labels,
        train=Split("train", tuple(map(_example, train))),
        validation=Split("validation", tuple(map(_example, validation))),
        test=Split("test", tuple(map(_example, test))), metric="f1", source=source,
    )
