"""The task registry: each task is declared once (name, kind, loader, description)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

from engine.errors import SkillkilnError
from engine.records import Task

DATA_DIR_ENV = "SKILLKILN_DATA_DIR"


@dataclass(frozen=True)
class TaskSpec:
    name: str
    kind: str
    summary: str
    loader: Callable[[Path | None], Task]
    labels: tuple = (0, 1)


def _registry() -> dict[str, TaskSpec]:
    from tasks import cola, sst2

    return {
        "cola": TaskSpec("cola", "classification", "English grammatical acceptability (CoLA v1.1), MCC", cola.load),
        "sst2": TaskSpec("sst2", "classification", "movie-review sentiment (GLUE SST-2), accuracy", sst2.load),
    }


def task_spec(name: str) -> TaskSpec:
    if name.startswith(("file:", "hf:")):
        return TaskSpec(name, "classification", "user-defined", lambda _d: None)  # labels come with the data
    registry = _registry()
    if name not in registry:
        raise SkillkilnError(f"unknown task {name!r}; known tasks: {', '.join(sorted(registry))}")
    return registry[name]


def task_names() -> list[str]:
    return sorted(_registry())


def resolve_data_dir(data_dir: str | Path | None) -> Path | None:
    """--data-dir wins, then $SKILLKILN_DATA_DIR; None means: load from the hub."""
    chosen = data_dir or os.environ.get(DATA_DIR_ENV) or None
    if chosen is None:
        return None
    path = Path(chosen).expanduser()
    if not path.is_dir():
        raise SkillkilnError(f"data directory {path} does not exist (from --data-dir or {DATA_DIR_ENV})")
    return path.resolve()


@lru_cache(maxsize=8)
def _load_cached(name: str, data_dir: Path | None) -> Task:
    return _registry()[name].loader(data_dir)


def load_task(name: str, data_dir: str | Path | None = None, text_col: str = "text",
              label_col: str = "label") -> Task:
    """A registered task, or `file:PATH` / `hf:NAME` with a text and a label column."""
    from tasks import generic

    if name.startswith("file:"):
        return generic.load_file(name[len("file:"):], text_col, label_col)
    if name.startswith("hf:"):
        return generic.load_hub(name[len("hf:"):], text_col, label_col)
    task_spec(name)
    return _load_cached(name, resolve_data_dir(data_dir))
