"""RunConfig: every knob of a run in one place. The CLI builds it; nothing reads global state."""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from engine.gate import GateConfig
from sandbox.backend import Limits


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def default_skill_name(task: str, proposer: str, distinct: bool = False) -> str:
    """TASK-PROPOSER as a store name: `cola-offline`; `file:/data/reviews.csv` -> `file-reviews-offline`,
    `hf:org/name` -> `hf-name-offline` (a path or an '@' would make NAME@VERSION unreadable). DISTINCT adds
    six hex digits of the task's sha256 (`file-reviews-3f9a2c-offline`): for when the short name is
    already another task's (two files both called reviews.csv)."""
    kind, _, where = task.partition(":")
    if where:
        task = f"{kind}-{Path(where).stem if kind == 'file' else where.rstrip('/').rsplit('/', 1)[-1]}"
    if distinct:
        task = f"{task[:80]}-{hashlib.sha256(f'{kind}:{where}'.encode()).hexdigest()[:6]}"
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{task}-{proposer}").strip("-._")
    return name[:100] or "skill"


@dataclass(frozen=True)
class RunConfig:
    task: str
    iters: int = 25
    batch: int = 4  # candidates proposed (and evaluated in parallel) per iteration
    seed: int = 0
    proposer: str = "offline"
    sandbox: str = "auto"  # auto, docker or local
    workers: int = field(default_factory=default_workers)
    store_path: Path | None = None
    data_dir: Path | None = None
    dataset: str | None = None  # a hub set for a task that takes one (pii)
    text_col: str = "text"  # the columns of a file:/hf: task (--resume reads the same ones)
    label_col: str = "label"
    embedder: str = "offline"  # failure clusters: offline hashed n-grams, or ollama[:MODEL] embeddings
    name: str | None = None  # the stored skill's name; default "<task>-<proposer>"
    parents: int = 4  # parents offered to each proposal
    gate: GateConfig = GateConfig()
    limits: Limits = Limits()
    # LLM proposers (engine/proposers/llm.py): roles as PROVIDER:MODEL, transport, budget
    strategy: str = "evolve"  # evolve, or best-of-n: the same budget on independent samples of the first prompt
    creator: str | None = None  # e.g. anthropic:claude-opus-5-5; default: the proposer's default model
    repairer: str | None = None  # the model of the one repair round; default: the creator
    ollama_host: str | None = None  # default $OLLAMA_HOST, else http://127.0.0.1:11434
    llm_timeout_s: float = 300.0
    llm_retries: int = 3  # retries after the first attempt, on 429, 5xx and timeouts, with exponential back-off
    transcript: str | None = None  # replay: the JSONL transcript to answer from
    record: str | None = None  # write a JSONL transcript of every model call
    max_cost_usd: float | None = None  # stop cleanly once the ledger has spent this much
    baseline_tokens_per_example: float | None = None  # for the break-even line; default: the store's last baseline
    libraries: tuple[str, ...] = ()  # stored skills candidates may import, as exact NAME@VERSION refs
    data_sha256: str | None = None  # Task.fingerprint() of the data the run started on; --resume checks it
    # run every stage for every candidate the gate passes, even one whose validation score cannot beat
    # the run's best (by default such a candidate stops after validation when the cascade allows)
    score_all: bool = False

    @property
    def skill_name(self) -> str:
        return self.name or default_skill_name(self.task, self.proposer)

    def run_gate(self) -> GateConfig:
        """The gate as this run applies it: every candidate of the run is tested on the same
        validation split, so its test is held to alpha over the run's budget (Bonferroni)."""
        return replace(self.gate, validation_family=max(self.gate.validation_family, self.iters * self.batch))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunConfig":
        """The config a stored run was started with (unknown keys from other versions are ignored)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["gate"] = GateConfig(**{k: v for k, v in (data.get("gate") or {}).items()
                                       if k in {f.name for f in fields(GateConfig)}})
        values["limits"] = Limits(**{k: v for k, v in (data.get("limits") or {}).items()
                                     if k in {f.name for f in fields(Limits)}})
        values["libraries"] = tuple(values.get("libraries") or ())
        for key in ("store_path", "data_dir"):
            if values.get(key):
                values[key] = Path(values[key])
        return cls(**values)
