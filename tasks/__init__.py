"""The task registry: each task is declared once (name, kind, loader, description)."""
from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from engine.errors import SkillkilnError
from engine.records import Task

DATA_DIR_ENV = "SKILLKILN_DATA_DIR"


@dataclass(frozen=True)
class TaskSpec:
    name: str
    kind: str
    summary: str
    loader: Callable[..., Task]  # loader(data_dir) or, with takes_dataset, loader(data_dir, dataset)
    labels: tuple = (0, 1)
    takes_dataset: bool = False  # a hub set may be named with --dataset


def _registry() -> dict[str, TaskSpec]:
    from tasks import cola, pii, sst2

    return {
        "cola": TaskSpec("cola", "classification", "English grammatical acceptability (CoLA v1.1), MCC", cola.load),
        "sst2": TaskSpec("sst2", "classification", "movie-review sentiment (GLUE SST-2), accuracy", sst2.load),
        "pii": TaskSpec("pii", "spans", "PII span extraction (presidio synthetic set; --dataset for ai4privacy), "
                        "span F1", pii.load, labels=pii.LABELS, takes_dataset=True),
    }


def task_spec(name: str) -> TaskSpec:
    if name.startswith(("file:", "hf:")):
        return TaskSpec(name, "classification", "user-defined", lambda _d: None)  # labels come with the data
    registry = _registry()
    if name not in registry:
        raise SkillkilnError(f"unknown task {name!r}; known tasks: {', '.join(sorted(registry))}")
    return registry[name]


def canonical_task(name: str) -> str:
    """The name a task is stored under: `file:` with its absolute path, so the same file is one task
    whatever the working directory and however it was spelled (and --resume finds it from anywhere)."""
    if name.startswith("file:"):
        if not name[5:].strip():  # resolved, "" is the working folder: "task file /home/me is a folder"
            raise SkillkilnError("file: names no file (write --task file:PATH)")
        return "file:" + str(Path(name[5:]).expanduser().resolve())
    return name


def task_names() -> list[str]:
    return sorted(_registry())


def resolve_data_dir(data_dir: str | Path | None) -> Path | None:
    """--data-dir wins, then $SKILLKILN_DATA_DIR; None means: load from the hub."""
    chosen = data_dir or os.environ.get(DATA_DIR_ENV) or None
    if chosen is None:
        return None
    path = Path(chosen).expanduser()
    if not path.is_dir():
        what = "is a file, not a folder" if path.exists() else "does not exist"
        raise SkillkilnError(f"data directory {path} {what} (from --data-dir or {DATA_DIR_ENV})")
    return path.resolve()


@lru_cache(maxsize=8)
def _load_cached(name: str, data_dir: Path | None, dataset: str | None = None) -> Task:
    spec = _registry()[name]
    return spec.loader(data_dir, dataset) if spec.takes_dataset else spec.loader(data_dir)


def load_task(name: str, data_dir: str | Path | None = None, text_col: str = "text",
              label_col: str = "label", dataset: str | None = None) -> Task:
    """A registered task, or `file:PATH` / `hf:NAME` with a text and a label column.

    DATASET names a hub set for a task that takes one (pii: an ai4privacy PII-masking set)."""
    from tasks import generic

    if name.startswith("file:"):
        task = generic.load_file(name[len("file:"):], text_col, label_col)
    elif name.startswith("hf:"):
        task = generic.load_hub(name[len("hf:"):], text_col, label_col)
    else:
        spec = task_spec(name)
        if (text_col, label_col) != ("text", "label"):
            raise SkillkilnError(f"task {name!r} has its own columns; --text-col and --label-col are for "
                                 "file: and hf: tasks")
        if dataset and not spec.takes_dataset:
            raise SkillkilnError(f"task {name!r} takes no --dataset (only: "
                                 f"{', '.join(n for n, s in sorted(_registry().items()) if s.takes_dataset)})")
        task = _load_cached(name, resolve_data_dir(data_dir), dataset or None)
    return _big_enough(task)


MIN_VALIDATION = 20  # below this the gate's significance test on validation says nothing


def _big_enough(task: Task) -> Task:
    """Refuse a task whose splits are too small to judge a skill on (a truncated file, a tiny table)."""
    sizes = {split: len(task.split(split)) for split in ("train", "validation", "test")}
    if sizes["validation"] < MIN_VALIDATION or not sizes["train"] or not sizes["test"]:
        shown = ", ".join(f"{n} {split}" for split, n in sizes.items())
        total = sum(sizes.values())
        distinct = len({text for split in ("train", "validation", "test") for text in task.split(split).texts})
        if distinct < total / 2:  # a blank text column, or --text-col naming the label: one side holds each text
            why = (f"its {total} rows hold only {distinct} distinct text{'s' if distinct != 1 else ''}, and a text is "
                   "kept on one side of the split; is the text column the right one?")
        elif task.kind == "classification" and len(task.labels) > max(2, total // 10):
            why = (f"its {len(task.labels)} labels leave too few examples of each to carve the splits; "
                   "is the label column the right one?")
        else:
            why = "is a data file truncated?"
        raise SkillkilnError(f"task {task.name} is too small to judge a skill on: {shown} examples (validation "
                             f"needs at least {MIN_VALIDATION}); {why} (source: {task.source})")
    if task.kind == "classification":
        from engine.gate import GateConfig

        limit = GateConfig().max_label_share
        for split in ("train", "validation"):
            labels = task.split(split).labels
            top, count = Counter(labels).most_common(1)[0]
            if count / len(labels) > limit:  # 99/1: a perfect skill was rejected as "nearly constant", after a whole run
                raise SkillkilnError(
                    f"task {task.name} is too unbalanced to judge a skill on: label {top!r} is {count / len(labels):.1%} "
                    f"of {split} ({count} of {len(labels)}), above the {limit:.0%} share of one output the gate "
                    f"calls nearly constant, so even a perfect skill would be rejected; give the table more examples "
                    f"of its other labels (source: {task.source})")
    return task
