"""One candidate through the stages: static gate, train, validation + properties, test.

Each stage runs only if the one before passed, so hopeless candidates never pay for
property tests. Test is scored only for accepted skills, and only reported: it never
decides anything.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from engine import gate
from engine.gate import GateConfig, MemoryIndex
from engine.records import ExecResult, Metrics, Task, Verdict
from sandbox.backend import Backend, Limits, RunRequest
from sandbox.static import check_source

PROPERTY_PROBES = 200  # train texts (no labels) the property tests draw words from


@dataclass(frozen=True)
class Evaluation:
    verdict: Verdict
    stage: str  # the last stage reached: static, train, validation, test
    train_predictions: tuple[Any, ...] | None = None
    sandbox_s: float = 0.0
    results: dict[str, ExecResult] = field(default_factory=dict)


class Evaluator:
    def __init__(self, task: Task, backend: Backend, config: GateConfig = GateConfig(), limits: Limits = Limits()):
        self.task = task
        self.backend = backend
        self.config = config
        self.limits = limits
        self.memory = MemoryIndex(task.train.texts, config.memorised_words)
        self.probes = tuple(task.train.texts[:PROPERTY_PROBES])

    def _run(self, code: str, split: str, properties: bool, libraries: dict[str, str]) -> ExecResult:
        request = RunRequest(
            code=code,
            texts=tuple(self.task.split(split).texts),
            kind=self.task.kind,
            labels=self.task.labels,
            properties={"probe_texts": list(self.probes)} if properties else None,
            libraries=libraries,
        )
        return self.backend.run(request, self.limits)

    def evaluate(self, code: str, libraries: dict[str, str] | None = None) -> Evaluation:
        libraries = libraries or {}
        static = check_source(code, libraries=tuple(libraries))
        if not static.ok:
            reason = f"static:{static.reason}"
            return Evaluation(Verdict(False, (reason,), {}, {reason: static.detail}), "static")
        reasons, details = gate.source_reasons(code, self.memory)
        if reasons:
            return Evaluation(Verdict(False, tuple(reasons), {}, details), "static")

        started = time.perf_counter()
        results: dict[str, ExecResult] = {}
        metrics: dict[str, Metrics] = {}

        def done(stage: str, reasons: list[str], details: dict[str, str]) -> Evaluation:
            train = results.get("train")
            return Evaluation(
                Verdict(not reasons, tuple(reasons), dict(metrics), details),
                stage,
                train.predictions if train else None,
                time.perf_counter() - started,
                results,
            )

        results["train"] = self._run(code, "train", False, libraries)
        reasons, details = gate.split_reasons(self.task, "train", results["train"], self.config)
        if results["train"].predictions is not None:
            metrics["train"] = gate.score(self.task, "train", results["train"], self.config)
        if reasons:
            return done("train", reasons, details)

        results["validation"] = self._run(code, "validation", True, libraries)
        more, more_details = gate.split_reasons(self.task, "validation", results["validation"], self.config)
        reasons += more
        details.update(more_details)
        more, more_details = gate.property_reasons(results["validation"])
        reasons += more
        details.update(more_details)
        if results["validation"].predictions is not None:
            metrics["validation"] = gate.score(self.task, "validation", results["validation"], self.config)
            more, more_details = gate.gap_reasons(metrics["train"], metrics["validation"], self.config)
            reasons += more
            details.update(more_details)
        if reasons:
            return done("validation", reasons, details)

        results["test"] = self._run(code, "test", False, libraries)
        if results["test"].predictions is not None:
            metrics["test"] = gate.score(self.task, "test", results["test"], self.config)
        return done("test", [], details)
