"""One candidate through the cascade of stages; each runs only if the one before passed.

  static        size cap, syntax, signature, imports, RestrictedPython; task text in the source
  train_subset  a fixed stratified train subset (GateConfig.subset_size): stop a candidate the
                full train stage cannot plausibly pass (gate.subset_reasons says exactly when)
  train         the rest of train (the subset's outputs are reused, not recomputed); a candidate
                whose outputs on all of train are an earlier one's stops here (`same_behaviour`)
  validation    realistic generated text + validation in one request, with the hypothesis
                property tests inside the sandbox; the train-validation gap, both ways; then all of
                validation (up to 5,000 texts) and a random sample of train re-run in a random order
                in 4 fresh processes with another string hash seed (the same answers out of context)
  test          scored only for accepted skills, and only reported: it never decides anything

The whole train split comes before validation although most candidates that fail, fail on
validation: every candidate with outputs on all of train joins the search's population, and
keeping there the ones validation rejects makes better skills. Tried (bench/quality.py, same
seeds): with validation first, evolve's test MCC fell from 0.080 and 0.128 to 0.059 and 0.084.

Expected outputs change that order without changing the search. A proposer that computes its
skill's train outputs itself (the offline one does; Proposal.expected_train) hands them in; when
they match the real outputs on every text of the train subset, validation runs right after the
subset, on its own, and a candidate it rejects stops there: the rest of train and the property
tests are never run for it, and its expected outputs join the population in their place (search
only: no verdict, metric or stored skill ever rests on them). A candidate validation passes then
runs the rest of train, and the generated text with the property tests. Its checks and verdict are
those of the usual order.

A bar (the run's best validation score when the candidate's iteration began) stops one more kind
of candidate at that point: one validation passes but whose validation score is not above the bar
(`not_better`). It cannot become the run's best skill or a stored version (both need a validation
score above every earlier accepted one), so the stages left would decide nothing that is kept; its
expected outputs join the population as above. `evolve --score-all` (no bar) runs them anyway.

The checks come from engine/gate.py for classification and engine/span_gate.py for span tasks
(`checks_for(task)`): the same stages, functions and reason codes, scored for the task's kind.

`Evaluator(..., cascade=False)` skips the subset stage and runs the whole train split at once.
Evaluation.stage is the last stage reached; Evaluation.stage_s the sandbox seconds per stage.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Mapping

from engine import gate, span_gate
from engine.gate import GateConfig, MemoryIndex
from engine.records import ExecResult, Metrics, Task, Verdict
from sandbox.backend import Backend, Limits, RunRequest
from sandbox.static import check_source

PROPERTY_PROBES = 200  # train texts (no labels) the property tests draw words from
# re-run out of context (Evaluator._context_check): all of validation up to 5,000 texts (a big table's sample),
# and 100 train texts. A sample of 200 validation texts missed, 1 time in 16, a skill whose answers followed a
# set's order on 6 of CoLA validation's 857
CONTEXT_TEXTS = (("validation", 5000), ("train", 100))
CONTEXT_HASH_SEED = 1  # ... under another string hash seed than every other run's 0
# ... in this many requests, each a fresh process whose addresses differ (sandbox/harness.py: scatter_memory): a
# skill keyed on an address bit agrees with its first runs in each by chance alone, 1 time in 2
CONTEXT_RUNS = 4
GENERATED_SEED = 7
STAGES = ("static", "train_subset", "train", "validation", "test")


@dataclass(frozen=True)
class Evaluation:
    verdict: Verdict
    stage: str  # the last stage reached: static, train_subset, train, validation, test
    train_predictions: tuple[Any, ...] | None = None  # the full train split's outputs, when it ran
    sandbox_s: float = 0.0  # seconds spent in sandbox requests
    results: dict[str, ExecResult] = field(default_factory=dict)
    stage_s: dict[str, float] = field(default_factory=dict)  # sandbox seconds per stage
    cascade: bool = True
    behaviour: str | None = None  # signature of all train outputs (see behaviour_signature)
    # the proposer's expected train outputs, checked on the train subset, when validation stopped the
    # candidate (rejected, or not_better) before the rest of train ran: the search may use them, the
    # verdict never does
    expected_train: tuple[Any, ...] | None = None
    texts: int = 0  # texts sent to the sandbox, all requests together: the work, exactly


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


def behaviour_signature(task: Task, train: Sequence[Any]) -> str:
    """A candidate's behaviour on train, as one hash: two candidates with the same signature gave the
    same output on every train text."""
    outputs = train_outputs(task, tuple(train))
    if task.kind != "spans":  # True and 1 are one label to the gate (GateConfig.bool_as_int): one behaviour here too
        outputs = tuple(int(o) if type(o) is bool else o for o in outputs)
    return hashlib.sha256(json.dumps(outputs, default=list).encode()).hexdigest()[:24]


def checks_for(task: Task):
    """The module holding the gate's checks for this task's kind."""
    return span_gate if task.kind == "spans" else gate


def speed_text(texts: int, seconds: float) -> str:
    """How fast a skill ran over train, for its verdict: what a user weighs against a model call per text."""
    each = seconds / max(texts, 1)
    per = f"{each * 1e6:.0f} µs" if each < 1e-3 else f"{each * 1e3:.1f} ms"
    return (f"{texts:,} train texts in {seconds:.2f} s in the sandbox, about {per} a text "
            "(one worker, the sandbox's round trip included)")


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

    def _run(self, code: str, texts: Sequence[str], properties: bool, libraries: dict[str, str],
             hash_seed: int = 0) -> tuple[ExecResult, float]:
        request = RunRequest(
            code=code,
            texts=tuple(texts),
            kind=self.task.kind,
            labels=self.task.labels,
            properties={"probe_texts": list(self.probes)} if properties else None,
            libraries=libraries,
            hash_seed=hash_seed,
        )
        started = time.perf_counter()
        result = self.backend.run(request, self.limits)
        return result, time.perf_counter() - started

    def _context_check(self, run, results: Mapping[str, ExecResult]) -> tuple[list[str], dict[str, str], float]:
        """The same answers out of context: all of validation (up to 5,000 texts) and a random sample of
        train, in a random order, in CONTEXT_RUNS fresh processes with another string hash seed, must get the
        answers they got in their own runs.

        A skill may keep state between calls: it can tell the gate's requests by their first texts,
        answer by its neighbours in the batch (the dev files keep minimal pairs side by side), or
        change its answers after a number of calls the determinism property never reaches. Or its
        answers may follow the order of a set of strings, which the sandbox's fixed hash seed keeps
        the same in every run, and a plain python3 running its export does not. Or they may follow an address
        (the repr of an object), which differs from process to process: each of CONTEXT_RUNS runs is a
        fresh chance to disagree with the first runs."""
        rng = random.Random(int.from_bytes(os.urandom(8), "big"))  # an order no skill can have learnt
        texts = {split: self.task.split(split).texts for split, _ in CONTEXT_TEXTS}
        picks = [(split, i) for split, n in CONTEXT_TEXTS
                 for i in rng.sample(range(len(texts[split])), min(n, len(texts[split])))]
        rng.shuffle(picks)
        size = -(-len(picks) // CONTEXT_RUNS)
        chunks = [picks[at:at + size] for at in range(0, len(picks), size)]
        what = (f"{len(picks)} validation and train texts re-run in a random order in {len(chunks)} fresh processes "
                "with another string hash seed")
        differ, seconds = [], 0.0  # both runs passed the gate's checks before this one: every text has an answer in each
        for chunk in chunks:
            again, took = run([texts[split][i] for split, i in chunk], False, CONTEXT_HASH_SEED)
            seconds += took
            if again.predictions is None:
                return ["property:context"], {"property:context": f"{what}: a run failed ({again.failure})"}, seconds
            for k, (split, i) in enumerate(chunk):
                first = results[split].predictions[i]
                if k in again.per_example_errors or again.predictions[k] != first:
                    differ.append((split, i, first, again.predictions[k]))
        if not differ:
            return [], {"gate:context": f"{what}: the same answers"}, seconds
        quoted = next(((i, a, b) for split, i, a, b in differ if split == "train"), None)
        example = (f"; train text {self.task.train.texts[quoted[0]][:100]!r} gave {quoted[1]!r} in the train run and "
                   f"{quoted[2]!r} again" if quoted else " (held-out texts, not quoted)")
        return ["property:context"], {"property:context": (
            f"{what}: {len(differ)} answered otherwise{example}; a skill's answer must depend on its text alone "
            "(not on earlier calls, its neighbours in the batch, the order of a set of strings or an address)")}, seconds

    def score_outputs(self, split: str, outputs: Sequence[Any]) -> Metrics:
        """The metrics of outputs computed elsewhere (expected train outputs), as a run would score them."""
        return self.checks.score(self.task, split, ExecResult(predictions=tuple(outputs)), self.config)

    def _expected_holds(self, expected: Sequence[Any] | None, subset: ExecResult) -> bool:
        """Whether the proposer's expected train outputs match the real ones on the whole subset."""
        if expected is None or len(expected) != len(self.task.train) or not self.generated:
            return False
        if subset.predictions is None or subset.per_example_errors:
            return False
        real = train_outputs(self.task, tuple(subset.predictions))
        claimed = train_outputs(self.task, tuple(expected[i] for i in self.subset))
        return real == claimed and all(type(a) is type(b) for a, b in zip(real, claimed))

    def evaluate(self, code: str, libraries: dict[str, str] | None = None,
                 behaviours: Mapping[str, str] | None = None,
                 expected_train: Sequence[Any] | None = None, bar: float | None = None) -> Evaluation:
        """BEHAVIOURS maps behaviour signatures of candidates judged before to their ids: with the
        cascade on, a candidate whose outputs on all of train are exactly one of theirs stops after
        train (`same_behaviour`). (Checked on the train subset alone, this stopped candidates that
        differed from their 'twin' on a few texts outside it: an improvement was skipped.)

        EXPECTED_TRAIN is the proposer's own computation of the skill's train outputs. With the
        cascade on, when it matches the real outputs on every text of the train subset, validation
        runs right after the subset, and a candidate it rejects stops there: its expected outputs
        stand in for the rest of train, for the search only (Evaluation.expected_train). There, a
        candidate validation passes stops too (`not_better`) when its validation score is not above
        BAR: the run's best before this candidate's iteration."""
        libraries = libraries or {}
        sent = [0]  # texts sent to the sandbox (a local: the loop's threads share this evaluator)

        def run(texts: Sequence[str], properties: bool, hash_seed: int = 0) -> tuple[ExecResult, float]:
            sent[0] += len(texts)
            return self._run(code, texts, properties, libraries, hash_seed)

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

        def done(stage: str, reasons: list[str]) -> Evaluation:
            train = results.get("train")
            return Evaluation(
                Verdict(not reasons, tuple(reasons), dict(metrics), details),
                stage,
                train_outputs(self.task, train.predictions) if train is not None else None,
                sum(stage_s.values()),
                results,
                stage_s,
                self.cascade,
                behaviour,
                expected,
                sent[0],
            )

        expected: tuple[Any, ...] | None = None
        early: tuple[ExecResult, float] | None = None  # validation run before the rest of train
        # train: the subset first (cascade), then the rest; or all of it at once
        if self.cascade and self.rest:
            subset, stage_s["train_subset"] = run([train_texts[i] for i in self.subset], False)
            results["train_subset"] = subset
            reasons, more, subset_metrics = checks.subset_reasons(self.task, self.subset, subset, self.config)
            details.update(more)
            if reasons:
                if subset_metrics is not None:
                    metrics["train_subset"] = subset_metrics
                return done("train_subset", reasons)
            if self._expected_holds(expected_train, subset):
                early = run(self.task.validation.texts, False)
                results["validation"], stage_s["validation"] = early
                reasons, more = checks.split_reasons(self.task, "validation", early[0], self.config)
                details.update(more)
                if early[0].answered:
                    metrics["validation"] = checks.score(self.task, "validation", early[0], self.config)
                key = self.task.selection_key
                score = metrics["validation"].to_dict()[key] if "validation" in metrics else None
                if not reasons and bar is not None and score is not None and score <= bar:
                    reasons = ["not_better"]
                    details["not_better"] = (
                        f"validation {key} {score:.4f} is not above {bar:.4f}, the run's best before this iteration: "
                        "it could not become the run's best skill or a new stored version, so the rest of train, the "
                        "property tests and test were not run (evolve --score-all runs them)")
                if reasons:
                    expected = train_outputs(self.task, tuple(expected_train))
                    note = details.get("gate:train_subset", "").replace("; went on to the full train split", "")
                    details["gate:train_subset"] = note + (
                        "; the proposer's expected train outputs matched the real ones on all of these texts, so "
                        "validation ran next and stopped the candidate: the rest of train was not run")
                    return done("validation", reasons)
            rest, stage_s["train"] = run([train_texts[i] for i in self.rest], False)
            results["train"] = merge([(self.subset, subset), (self.rest, rest)], len(train_texts))
        else:
            results["train"], stage_s["train"] = run(train_texts, False)
        if results["train"].predictions is not None:
            details["gate:speed"] = speed_text(len(train_texts), stage_s.get("train_subset", 0.0) + stage_s["train"])
        if self.cascade and results["train"].predictions is not None:
            behaviour = behaviour_signature(self.task, results["train"].predictions)
            twin = (behaviours or {}).get(behaviour)
            if twin is not None:  # every train output as that one's: the stages left would repeat its verdict
                details["same_behaviour"] = (f"the same output as candidate {twin} on all {len(train_texts)} train "
                                             "texts; validation, the property tests and test were not run")
                return done("train", ["same_behaviour"])
        reasons, more = checks.split_reasons(self.task, "train", results["train"], self.config)
        details.update(more)
        if results["train"].answered:
            metrics["train"] = checks.score(self.task, "train", results["train"], self.config)
        if reasons:
            return done("train", reasons)

        # generated text and validation in one request, with the property tests. Generated text
        # comes first: the determinism property re-runs the request's first texts, and a failure
        # quotes one, so counterexamples quote train-derived text, never a validation sentence.
        val_texts, g = self.task.validation.texts, len(self.generated)
        if early is None:
            both, stage_s["validation"] = run(list(self.generated) + list(val_texts), True)
            results["validation"] = cut(both, g, g + len(val_texts), properties=True)
            checklist = [lambda: checks.split_reasons(self.task, "validation", results["validation"], self.config),
                         lambda: checks.property_reasons(results["validation"])]
        else:  # validation ran already (and passed): the generated text and the property tests now
            both, seconds = run(list(self.generated), True)
            stage_s["validation"] += seconds
            checklist = [lambda: gate.run_failure("generated", both) if both.predictions is None
                         else checks.property_reasons(both)]
        for check in checklist:
            more_reasons, more = check()
            reasons += more_reasons
            details.update(more)
        if self.generated and both.predictions is not None:
            results["generated"] = cut(both, 0, g, properties=False)
            more_reasons, more = checks.generated_reasons(self.task, self.generated, results["generated"], self.config)
            reasons += more_reasons
            details.update(more)
        if results["validation"].answered:
            metrics["validation"] = checks.score(self.task, "validation", results["validation"], self.config)
            more_reasons, more = checks.gap_reasons(metrics["train"], metrics["validation"], self.config)
            reasons += more_reasons
            details.update(more)
        if reasons:
            return done("validation", reasons)
        reasons, more, seconds = self._context_check(run, results)
        stage_s["validation"] += seconds
        details.update(more)
        if reasons:
            return done("validation", reasons)

        # test: accepted skills only, reported, never used to decide
        results["test"], stage_s["test"] = run(self.task.test.texts, False)
        if results["test"].answered:
            metrics["test"] = checks.score(self.task, "test", results["test"], self.config)
        else:  # not a reason (test decides nothing), but a missing test score must say why
            details["gate:test"] = f"not scored: the run on test failed as a whole ({results['test'].failure})"
        return done("test", [])
