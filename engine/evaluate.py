"""One candidate through the cascade of stages; each runs only if the one before passed.

  static        size cap, syntax, signature, imports, RestrictedPython; task text in the source
  train_subset  a fixed stratified train subset (GateConfig.subset_size): stop a candidate the
                full train split cannot plausibly pass (gate.subset_reasons says exactly when)
  validation    the validation split alone, and the train-validation gap measured on the subset
  properties    realistic generated text with the hypothesis property tests inside the sandbox
  train         the rest of train (the subset's outputs are reused, not recomputed); the gap
                again, now on the whole train split
  test          scored only for accepted skills, and only reported: it never decides anything

Validation comes before the rest of train because that is where most candidates fail and it
is an eighth of the size: a candidate it stops never pays for the other 7,300 train texts. Every
check is still made on train and on validation for an accepted skill; only the order changed.

The checks come from engine/gate.py for classification and engine/span_gate.py for span tasks
(`checks_for(task)`): the same stages, functions and reason codes, scored for the task's kind.

`Evaluator(..., cascade=False)` is the flat order the bench compares against: the whole train
split at once, then validation, generated text and the property tests in one request.
Evaluation.stage is the last stage reached; Evaluation.stage_s the sandbox seconds per stage.
"""
from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from engine import gate, span_gate
from engine.gate import GateConfig, MemoryIndex
from engine.records import ExecResult, Metrics, Task, Verdict
from sandbox.backend import Backend, Limits, RunRequest
from sandbox.static import check_source

PROPERTY_PROBES = 200  # train texts (no labels) the property tests draw words from
GENERATED_SEED = 7
STAGES = ("static", "train_subset", "validation", "properties", "train", "test")  # with the cascade
FLAT_STAGES = ("static", "train", "validation", "test")  # without it


@dataclass(frozen=True)
class Evaluation:
    verdict: Verdict
    stage: str  # the last stage reached: one of STAGES (FLAT_STAGES without the cascade)
    train_predictions: tuple[Any, ...] | None = None  # the full train split's outputs, when it ran
    sandbox_s: float = 0.0  # seconds spent in sandbox requests
    results: dict[str, ExecResult] = field(default_factory=dict)
    stage_s: dict[str, float] = field(default_factory=dict)  # sandbox seconds per stage
    cascade: bool = True
    behaviour: str | None = None  # signature of the train-subset outputs (see behaviour_signature)


def generated_texts(texts: Sequence[str], n: int, seed: int = GENERATED_SEED) -> tuple[str, ...]:
    """Realistic unlabelled text: train sentences with one edit each (swap two neighbouring words,
    drop a word, double a word, put in a word from another sentence, or join the halves of two
    sentences), the kind of minimal pair CoLA itself is made of. A skill that answers one label
    on nearly all of them is degenerate however it scores on the real splits."""
    rng = random.Random(seed)
    pool = [t.split() for t in texts if len(t.split()) >= 3]
    if not pool or n <= 0:
        return ()
    out: list[str] = []
    for k in range(n):
        words = list(rng.choice(pool))
        edit = k % 5
        i = rng.randrange(len(words) - 1)
        if edit == 0:
            words[i], words[i + 1] = words[i + 1], words[i]
        elif edit == 1:
            del words[i]
        elif edit == 2:
            words.insert(i, words[i])
        elif edit == 3:
            words[i] = rng.choice(rng.choice(pool))
        else:
            other = rng.choice(pool)
            words = words[: len(words) // 2] + other[len(other) // 2 :]
        out.append(" ".join(words))
    return tuple(out)


def merge(parts: Sequence[tuple[Sequence[int], ExecResult]], n: int) -> ExecResult:
    """One split's result from the results of disjoint index sets that cover it."""
    preds: list[Any] = [None] * n
    errors: dict[int, str] = {}
    for indices, result in parts:
        if result.predictions is None:
            return result
        for j, i in enumerate(indices):
            preds[i] = result.predictions[j]
        for j, message in result.per_example_errors.items():
            errors[indices[j]] = message
    return ExecResult(
        predictions=tuple(preds),
        per_example_errors=errors,
        timed_out=any(r.timed_out for _, r in parts),
        wall_s=sum(r.wall_s for _, r in parts),
        properties={},
        failure="",
    )


def cut(result: ExecResult, start: int, stop: int, properties: bool) -> ExecResult:
    """The outputs of texts[start:stop] of one request, as a result of their own."""
    if result.predictions is None:
        return result
    return ExecResult(
        predictions=tuple(result.predictions[start:stop]),
        per_example_errors={i - start: m for i, m in result.per_example_errors.items() if start <= i < stop},
        timed_out=any(m.startswith("timeout") for i, m in result.per_example_errors.items() if start <= i < stop),
        wall_s=result.wall_s,
        properties=dict(result.properties) if properties else {},
        failure=result.failure,
    )


def train_outputs(task: Task, predictions: tuple[Any, ...] | None) -> tuple[Any, ...] | None:
    """The train outputs as the loop keeps them. Span lists become sorted tuples of (start, end,
    label) tuples: hashable (the population compares behaviours by hash) and equal to a gold
    label exactly when the document is right; anything malformed becomes None."""
    if predictions is None or task.kind != "spans":
        return predictions
    out = []
    for p in predictions:
        spans = span_gate.as_spans(p)
        out.append(None if spans is None else tuple(sorted(spans)))
    return tuple(out)


def behaviour_signature(task: Task, subset_outputs: Sequence[Any]) -> str:
    """A candidate's behaviour on the fixed train subset, as one hash: two candidates with the same
    signature gave the same output on every one of those texts."""
    outputs = train_outputs(task, tuple(subset_outputs))
    return hashlib.sha256(json.dumps(outputs, default=list).encode()).hexdigest()[:24]


def checks_for(task: Task):
    """The module holding the gate's checks for this task's kind."""
    return span_gate if task.kind == "spans" else gate


class Evaluator:
    def __init__(self, task: Task, backend: Backend, config: GateConfig = GateConfig(), limits: Limits = Limits(),
                 *, cascade: bool = True, generated: bool = True):
        self.task = task
        self.backend = backend
        self.config = config
        self.limits = limits
        self.cascade = cascade
        self.checks = checks_for(task)
        self.memory = MemoryIndex.of_task(task, config.memorised_words)
        self.probes = tuple(task.train.texts[:PROPERTY_PROBES])
        self.subset = (span_gate.subset_indices(task, config.subset_size) if task.kind == "spans"
                       else gate.stratified_subset(task.train.labels, config.subset_size))
        chosen = set(self.subset)
        self.rest = tuple(i for i in range(len(task.train)) if i not in chosen)
        self.generated = generated_texts(task.train.texts, config.generated_texts) if generated else ()
        self.config_detail = self.checks.config_detail(task, config, cascade)

    def _run(self, code: str, texts: Sequence[str], properties: bool, libraries: dict[str, str]) -> tuple[ExecResult, float]:
        request = RunRequest(
            code=code,
            texts=tuple(texts),
            kind=self.task.kind,
            labels=self.task.labels,
            properties={"probe_texts": list(self.probes)} if properties else None,
            libraries=libraries,
        )
        started = time.perf_counter()
        result = self.backend.run(request, self.limits)
        return result, time.perf_counter() - started

    def _judge_split(self, split: str, result: ExecResult, metrics: dict[str, Metrics], details: dict[str, str],
                     gap_with: Metrics | None = None, train_name: str = "train") -> list[str]:
        """The reasons to reject SPLIT's outputs; its metrics go into METRICS when it has outputs.
        With GAP_WITH (the other side's metrics) the memorisation gap between train (or, as
        TRAIN_NAME says, the train subset) and validation is tested too."""
        checks = self.checks
        reasons, more = checks.split_reasons(self.task, split, result, self.config)
        details.update(more)
        if result.predictions is not None:
            metrics[split] = checks.score(self.task, split, result, self.config)
            if gap_with is not None:
                train, validation = (metrics[split], gap_with) if split == "train" else (gap_with, metrics[split])
                more_reasons, more = checks.gap_reasons(train, validation, self.config, train_name=train_name)
                reasons += more_reasons
                details.update(more)
        return reasons

    def _judge_properties(self, with_properties: ExecResult, generated: ExecResult | None,
                          results: dict[str, ExecResult], details: dict[str, str]) -> list[str]:
        """The reasons from the property tests (in WITH_PROPERTIES) and from the generated texts'
        outputs (GENERATED, stored in RESULTS when there are any)."""
        reasons, more = self.checks.property_reasons(with_properties)
        details.update(more)
        if self.generated and generated is not None and generated.predictions is not None:
            results["generated"] = generated
            more_reasons, more = self.checks.generated_reasons(self.task, self.generated, generated, self.config)
            reasons += more_reasons
            details.update(more)
        return reasons

    def _flat(self, code: str, libraries: dict[str, str], results: dict[str, ExecResult], metrics: dict[str, Metrics],
              stage_s: dict[str, float], details: dict[str, str]) -> list[str]:
        """Without the cascade: the whole train split, then generated text and validation in one
        request with the property tests. Fills the dicts given; returns the reasons to reject."""
        results["train"], stage_s["train"] = self._run(code, self.task.train.texts, False, libraries)
        reasons = self._judge_split("train", results["train"], metrics, details)
        if reasons:
            return reasons
        # generated text comes first: the determinism property re-runs the request's first texts,
        # and a failure quotes one, so counterexamples quote train-derived text, never validation
        val_texts, g = self.task.validation.texts, len(self.generated)
        both, stage_s["validation"] = self._run(code, list(self.generated) + list(val_texts), True, libraries)
        results["validation"] = cut(both, g, g + len(val_texts), properties=True)
        reasons = self._judge_split("validation", results["validation"], metrics, details, gap_with=metrics["train"])
        return reasons + self._judge_properties(results["validation"], cut(both, 0, g, properties=False), results, details)

    def evaluate(self, code: str, libraries: dict[str, str] | None = None,
                 behaviours: Mapping[str, str] | None = None) -> Evaluation:
        """BEHAVIOURS maps behaviour signatures of candidates judged before to their ids: with the
        cascade on, a candidate that behaves exactly like one of them on the train subset stops
        there (`same_behaviour`), since its full evaluation would very likely repeat that one's."""
        libraries = libraries or {}
        behaviour: str | None = None
        checks = self.checks
        base = {"gate:config": self.config_detail}
        static = check_source(code, libraries=tuple(libraries))
        if not static.ok:
            reason = f"static:{static.reason}"
            return Evaluation(Verdict(False, (reason,), {}, {reason: static.detail, **base}), "static", cascade=self.cascade)
        reasons, details = gate.source_reasons(code, self.memory)
        if reasons:
            return Evaluation(Verdict(False, tuple(reasons), {}, {**details, **base}), "static", cascade=self.cascade)

        results: dict[str, ExecResult] = {}
        metrics: dict[str, Metrics] = {}
        stage_s: dict[str, float] = {}
        details = dict(base)
        train_texts = self.task.train.texts

        subset_metrics = None  # the train subset's score (cascade): the only train score of a candidate stopped early

        def done(stage: str, reasons: list[str]) -> Evaluation:
            train = results.get("train")
            if "train" not in metrics and subset_metrics is not None:
                metrics["train_subset"] = subset_metrics
            return Evaluation(
                Verdict(not reasons, tuple(reasons), dict(metrics), details),
                stage,
                train_outputs(self.task, train.predictions) if train is not None else None,
                sum(stage_s.values()),
                results,
                stage_s,
                self.cascade,
                behaviour,
            )

        if self.cascade and self.rest:
            # the subset, then validation, then the property tests, then the rest of train: most
            # candidates that fail, fail on validation, which costs an eighth of the rest of train
            subset, stage_s["train_subset"] = self._run(code, [train_texts[i] for i in self.subset], False, libraries)
            results["train_subset"] = subset
            reasons, more, subset_metrics = checks.subset_reasons(self.task, self.subset, subset, self.config)
            details.update(more)
            if not reasons and subset.predictions is not None:
                behaviour = behaviour_signature(self.task, subset.predictions)
                twin = (behaviours or {}).get(behaviour)
                if twin is not None:
                    reasons = ["same_behaviour"]
                    details["same_behaviour"] = (f"the same output as candidate {twin} on all {len(self.subset)} "
                                                 "texts of the train subset; not evaluated further")
            if reasons:
                return done("train_subset", reasons)

            # validation alone; memorisation by behaviour against the subset's score for now
            results["validation"], stage_s["validation"] = self._run(code, self.task.validation.texts, False, libraries)
            reasons = self._judge_split("validation", results["validation"], metrics, details,
                                        gap_with=subset_metrics, train_name="train subset")
            if reasons:
                return done("validation", reasons)

            # generated text with the property tests (the determinism property re-runs the
            # request's first texts and a failure quotes one: train-derived text, never validation)
            generated, stage_s["properties"] = self._run(code, self.generated or self.probes, True, libraries)
            results["validation"] = replace(results["validation"], properties=generated.properties)
            reasons = self._judge_properties(generated, replace(generated, properties={}), results, details)
            if reasons:
                return done("properties", reasons)

            # the rest of train (the subset's outputs are put back in place, not recomputed)
            rest, stage_s["train"] = self._run(code, [train_texts[i] for i in self.rest], False, libraries)
            results["train"] = merge([(self.subset, subset), (self.rest, rest)], len(train_texts))
            reasons = self._judge_split("train", results["train"], metrics, details, gap_with=metrics["validation"])
            if reasons:
                return done("train", reasons)
        else:
            reasons = self._flat(code, libraries, results, metrics, stage_s, details)
            if reasons:
                return done(next(s for s in ("validation", "train") if s in stage_s), reasons)

        # test: accepted skills only, reported, never used to decide
        results["test"], stage_s["test"] = self._run(code, self.task.test.texts, False, libraries)
        if results["test"].predictions is not None:
            metrics["test"] = checks.score(self.task, "test", results["test"], self.config)
        return done("test", [])
