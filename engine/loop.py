"""The evolution loop: propose, gate, evaluate in the sandbox, archive, select; repeat.

Every candidate is stored (with its verdict and, when accepted, its skill version) in one
transaction as soon as it is judged, and the run's state is a pure function of what is
stored: `Run.resume` rebuilds it from the store, so a killed run loses at most the
candidates in flight. Randomness comes from (seed, iteration, slot), never from a stream
that a crash would cut, so a resumed run proposes what the uninterrupted one would have.
"""
from __future__ import annotations

import json
import random
import secrets
import time
from collections import Counter
from dataclasses import replace
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from engine.config import RunConfig
from engine.errors import StopRun
from engine.evidence import Evidence, analyse, default_embedder, make_embedder
from engine.evaluate import Evaluation, Evaluator, behaviour_signature, train_outputs
from engine.libraries import Library, dependencies_of, sources_for
from engine.ledger import Ledger, break_even, baseline_from_flag, find_baseline
from engine.population import Member, Population, ast_hash
from engine.proposers.base import ParentInfo, ProposalContext, Proposer, TaskCard
from engine.records import SEED_ITERATION, Proposal, Task, is_skip, split_reasons
from sandbox.backend import Backend, RunRequest
from skills_store.describe import describe
from skills_store.store import Store, sha256

PARSE_REASONS = ("static:syntax", "static:no_solve")
TEST_NOTE = "test split: scored for accepted skills only, never shown to a proposer, never used to select or version"

Progress = Callable[[int, dict[str, Any]], None]


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


# where a candidate stopped, in cascade order ("validation, early": validation ran right after the
# train subset, on the proposer's expected train outputs, and stopped it before the rest of train;
# "not_better": validation passed it there, but its score could not beat the run's best)
STOPS = ("duplicate", "static", "train_subset", "validation, early", "not_better", "train", "validation", "test")


def best_before(accepted: list[tuple[int, float]], iteration: int) -> float | None:
    """The best validation score among ACCEPTED (iteration, score) pairs of iterations before ITERATION;
    None before anything is accepted. Siblings never set each other's bar, so what stops does not
    depend on which thread finishes first, and a resumed run stops the same."""
    return max((score for it, score in accepted if it < iteration), default=None)


def gate_details(records: Iterable[dict[str, Any]]) -> list[dict[str, str]]:
    """Stored candidates' gate details, in their order: what an LLM proposer's next prompt shows."""
    return [record["verdict"].get("details") or {} for record in records]


def stage_of(record: dict[str, Any]) -> str:
    if tuple(record["reasons"]) in (("duplicate",), ("not_better",)):
        return record["reasons"][0]
    return "validation, early" if record.get("train_expected") else record["stage"]


class Run:
    def __init__(self, config: RunConfig, task: Task, backend: Backend, proposer: Proposer, store: Store,
                 run_id: str | None = None, libraries: dict[str, Library] | None = None):
        self.config = config
        self.libraries = dict(libraries or {})  # stored skills candidates may import, by import name
        self.library_outputs: dict[str, tuple[Any, ...]] = {}  # their train outputs, for proposers that use them
        self.warnings: list[str] = []  # what the summary must say (a library not offered as a feature)
        self.task = task
        self.backend = backend
        self.proposer = proposer
        self.store = store
        self.evaluator = Evaluator(task, backend, config.run_gate(), config.limits)
        # islands, duplicates, coverage, parent selection (engine/population.py)
        self.population = Population(labels=task.train.labels)
        self.evidence: Evidence | None = None  # failure clusters of the current elite, for proposers
        self.embedder = (default_embedder() if config.embedder == "offline"
                         else make_embedder(config.embedder, host=config.ollama_host))
        self.run_id = run_id or new_run_id()
        self.resumed = run_id is not None
        self.seen: dict[str, str] = {}  # program (ast_hash: layout, comments and own names aside) -> first candidate
        self.behaviours: dict[str, tuple[int, str]] = {}  # signature of all train outputs -> (iteration, first candidate)
        self.stored_ids: set[str] = set()
        self.rejections: Counter[str] = Counter()  # reasons, gate failures and cascade skips (engine.records.SKIPS)
        self.counts: Counter[str] = Counter()
        self.stages: Counter[str] = Counter()  # where candidates stopped (stage_of)
        self.tokens = {"prompt": 0, "completion": 0}
        self.sandbox_s = 0.0
        self.best: dict[str, Any] | None = None
        self.earlier_wall_s = 0.0  # resumed: the wall time the run spent before
        self.seeded: tuple[str, ...] = ()  # resumed: the stored skills (NAME@V) its population was seeded with
        self.accepted_scores: list[tuple[int, float]] = []  # (iteration, validation score) of accepted candidates
        self.last_reasons: tuple[str, ...] = ()
        self.next_iteration = 0
        self.held: list[dict[str, Any]] = []  # when resuming: stored candidates of the iteration cut short
        self.ledger: Ledger = getattr(proposer, "ledger", None) or Ledger(budget_usd=config.max_cost_usd)
        # a proposer that pays for model calls: each call is booked in the store as it returns, and each
        # proposal stored as it is made, so a run killed mid-iteration neither loses nor repeats a paid answer
        self.pays = getattr(proposer, "ledger", None) is not None
        self.calling_iteration = SEED_ITERATION  # the iteration whose proposals are being asked for
        if self.pays:
            self.ledger.sink = self._book
        self.stop_reason: str | None = None  # why the run stopped early and cleanly (max cost)
        self.error: str | None = None  # the one-line error a failed run ended with

    # ------------------------------------------------------------ ids and randomness

    def candidate_id(self, iteration: int, k: int) -> str:
        if iteration == SEED_ITERATION:
            return f"{self.run_id}-seed-{k}"
        return f"{self.run_id}-{iteration:03d}-{k}"

    def _context(self, iteration: int, k: int) -> ProposalContext:
        rng = random.Random(f"{self.config.seed}:{iteration}:{k}")
        specialists = {m.id for m in self.population.specialists()}
        parents = tuple(
            ParentInfo(m.id, m.code, m.train_predictions, m.train_score, m.validation_score, m.id in specialists)
            for m in self.population.select(rng, self.config.parents)
        )
        seed = (self.config.seed * 1_000_003 + iteration * 101 + k) & 0x7FFFFFFF
        offered = tuple(replace(lib.info(), train_outputs=self.library_outputs.get(name))
                        for name, lib in self.libraries.items())
        if self.config.strategy == "best-of-n":  # independent samples of the first prompt: no parents, no feedback
            return ProposalContext(TaskCard.of(self.task), iteration, (), (), seed, libraries=offered, slot=k)
        return ProposalContext(TaskCard.of(self.task), iteration, parents, self.last_reasons, seed, libraries=offered,
                               evidence=self.evidence, slot=k)

    # ------------------------------------------------------------ one iteration

    def _judge(self, items: list[tuple[int, int, Proposal]], pool: ThreadPoolExecutor) -> None:
        """Evaluate (iteration, slot, proposal) items in parallel; archive each as it is judged."""
        todo = []
        for iteration, k, proposal in items:
            if self.candidate_id(iteration, k) in self.stored_ids:
                continue  # stored before a crash: judged already
            program = ast_hash(proposal.code)
            original = self.seen.setdefault(program, self.candidate_id(iteration, k))
            todo.append((iteration, k, proposal, None if original == self.candidate_id(iteration, k) else original))

        # behaviours judged in earlier iterations only: siblings never stop each other, so what is
        # skipped does not depend on which thread finishes first, and a resumed run skips the same
        known = {sig: cid for sig, (it, cid) in self.behaviours.items() if todo and it < todo[0][0]}
        bar = self.bar(todo[0][0]) if todo else None

        def evaluate(item) -> Evaluation | None:
            if item[3] is not None:  # a copy of an earlier candidate: not run
                return None
            return self.evaluator.evaluate(item[2].code, libraries=sources_for(item[2].code, self.libraries),
                                           behaviours=known, expected_train=item[2].expected_train, bar=bar)

        reasons_now: list[str] = []
        observe = getattr(self.proposer, "observe", None)  # LLM proposers learn each candidate's fate
        for (iteration, k, proposal, original), evaluation in zip(todo, pool.map(evaluate, todo)):
            record = self._archive(iteration, k, proposal, evaluation, original)
            reasons_now += record["reasons"]
            if observe:
                observe(iteration, proposal, evaluation)
        if todo:
            self.last_reasons = tuple(dict.fromkeys(reasons_now))

    def bar(self, iteration: int) -> float | None:
        """The validation score a candidate of ITERATION must beat to change the run's outcome
        (best_before); None with --score-all."""
        return None if self.config.score_all else best_before(self.accepted_scores, iteration)

    def score_libraries(self) -> None:
        """Run each offered library over the train texts, in the sandbox, once per run, for a
        proposer that uses their outputs as features (the offline one). A library that fails there,
        on any text, is not offered as a feature, and the summary says so: every candidate built on it
        would fail the gate on those texts."""
        if not self.libraries or not getattr(self.proposer, "uses_library_outputs", False):
            return
        from tasks import task_spec

        for name, lib in self.libraries.items():
            labels = task_spec(lib.task).labels if lib.kind == "classification" else ()
            request = RunRequest(code=lib.code, texts=self.task.train.texts, kind=lib.kind, labels=tuple(labels),
                                 libraries=sources_for(lib.code, self.libraries))
            result = self.backend.run(request, self.config.limits)
            failed = result.failure or next(iter(result.per_example_errors.values()), "")
            if result.predictions is not None and not failed:
                self.library_outputs[name] = tuple(result.predictions)
            else:
                many = len(result.per_example_errors)
                self.warnings.append(f"library {lib.ref} is not offered as a feature: it failed on "
                                     f"{many or 'the'} train text{'' if many == 1 else 's'} ({' '.join(str(failed).split())[:120]})")

    def gather_evidence(self, iteration: int) -> None:
        """Cluster the elite's misclassified train examples before an iteration's proposals; the
        statistics go into the store. A function of the population and the seed, so a resumed
        run sees what the uninterrupted one saw."""
        elite = self.population.best()
        self.evidence = None
        if elite is None or self.config.strategy != "evolve":
            return
        others = [m.train_predictions for m in self.population.members() if m.id != elite.id]
        train = self.task.train
        self.evidence = analyse(train.texts, train.labels, elite.train_predictions, self.embedder,
                                seed=self.config.seed, others=others)
        self.store.add_iteration(self.run_id, iteration, {"elite": elite.id, **self.evidence.stats()})

    def iteration(self, iteration: int, pool: ThreadPoolExecutor) -> None:
        items = []
        failure: BaseException | None = None
        self.gather_evidence(iteration)
        paid = self.store.pending(self.run_id, iteration) if self.resumed and self.pays else {}
        self.calling_iteration = iteration
        try:
            for k in range(self.config.batch):
                if k in paid:  # resumed: asked for and paid before the interruption; judged, not asked again
                    items.append((iteration, k, paid[k]))
                    getattr(self.proposer, "adopt", lambda _p: None)(paid[k])
                    continue
                if not getattr(self.proposer, "holds_answers", lambda: False)():  # else it takes one it paid for
                    self.ledger.check_budget()
                items.append((iteration, k, self.proposer.propose(self._context(iteration, k))))
                self._keep_pending(*items[-1])
        except StopRun as exc:  # a spent budget, a transcript with no answers left: a clean stop
            self.stop_reason = str(exc)
            self._keep_partial(exc, iteration, items)
        except Exception as exc:  # a provider crash: judge and store what was already paid for, then fail
            failure = exc
            self._keep_partial(exc, iteration, items)
        held, self.held = self.held, []
        for record in held:  # resumed: what this iteration stored before the crash joins now
            self.stored_ids.discard(record["id"])
            self._absorb(record)
        restore = getattr(self.proposer, "restore_feedback", None)
        if held and restore:  # their gate details are part of what the next prompt says, as in one run
            restore(iteration, gate_details(held))
        self._judge(items, pool)
        if self.pays:
            self.store.clear_pending(self.run_id)
        if failure is not None:
            raise failure

    def _book(self, call: Any, request_sha256: str | None = None, answer: dict[str, Any] | None = None) -> None:
        self.store.add_call(self.run_id, self.calling_iteration, call.role, call.provider, call.model, call.prompt,
                            call.completion, call.cost_usd, request_sha256, answer)

    def _keep_pending(self, iteration: int, k: int, proposal: Proposal) -> None:
        if self.pays and proposal.expected_train is None:
            self.store.put_pending(self.run_id, iteration, k, proposal)

    def _keep_partial(self, exc: BaseException, iteration: int, items: list) -> None:
        """An answer paid for before the call that failed or stopped the run is judged and stored too."""
        partial = getattr(exc, "partial", None)
        if partial is not None:
            items.append((iteration, len(items), partial))
            self._keep_pending(*items[-1])

    def seed_with(self, codes: list[tuple[str, str]], pool: ThreadPoolExecutor) -> None:
        """Reuse stored skills: each (ref, code) is re-scored under the current data, not trusted."""
        items = [
            (SEED_ITERATION, k, Proposal(code=code, proposer="reuse", model=ref, note=f"reused {ref}"))
            for k, (ref, code) in enumerate(codes)
        ]
        self._judge(items, pool)

    # ------------------------------------------------------------ archive and state

    def _archive(self, iteration: int, k: int, proposal: Proposal, evaluation: Evaluation | None,
                 original: str | None = None) -> dict[str, Any]:
        cand_id = self.candidate_id(iteration, k)
        if evaluation is None:
            said = (f"the same program as candidate {original} (layout, comments, docstrings and the names it gives "
                    "its own variables aside); not run")
            verdict: dict[str, Any] = {"accepted": False, "reasons": ["duplicate"], "metrics": {},
                                       "details": {"duplicate": said}}
            stage, sandbox_s, train_predictions, expected = "static", 0.0, None, False
        else:
            verdict, stage = evaluation.verdict.to_dict(), evaluation.stage
            sandbox_s, train_predictions = evaluation.sandbox_s, evaluation.train_predictions
            expected = evaluation.expected_train is not None  # set only when the rest of train did not run
            if expected:  # stopped at validation before the rest of train: the proposer's outputs, checked on the subset
                train_predictions = evaluation.expected_train
        record = {
            "id": cand_id, "run_id": self.run_id, "iteration": iteration, "code": proposal.code,
            "code_sha256": sha256(proposal.code), "parent_ids": proposal.parent_ids, "proposer": proposal.proposer,
            "model": proposal.model, "note": proposal.note, "prompt_tokens": proposal.usage.prompt,
            "completion_tokens": proposal.usage.completion, "stage": stage, "accepted": int(verdict["accepted"]),
            "reasons": tuple(verdict["reasons"]), "verdict": verdict, "sandbox_s": sandbox_s,
            "train_predictions": train_predictions, "train_expected": int(expected),
        }
        offer = None
        if verdict["accepted"]:
            offer = dict(
                name=self.config.skill_name, task=self.task.name, code=proposal.code, metrics=verdict["metrics"],
                verdict=verdict, parents=tuple(proposal.parent_ids),
                provenance={"run_id": self.run_id, "candidate_id": cand_id, "proposer": proposal.proposer,
                            "model": proposal.model, "note": proposal.note, "sandbox": self.backend.name,
                            "tokens": proposal.usage.total, "data_sha256": self.config.data_sha256},
                candidate_id=cand_id, description=describe(proposal.code, self.task.name), key=self.task.metric,
                dependencies=dependencies_of(proposal.code, self.libraries),
            )
        stored = self.store.add_candidate(record, offer)
        record["skill_version"] = stored.version if stored else None
        self._absorb(record)
        return record

    def _absorb(self, record: dict[str, Any]) -> None:
        """Fold one stored candidate into the run's state (live, or when resuming)."""
        self.stored_ids.add(record["id"])
        self.counts["candidates"] += 1
        self.stages[stage_of(record)] += 1
        self.tokens["prompt"] += record["prompt_tokens"]
        self.tokens["completion"] += record["completion_tokens"]
        self.sandbox_s += record["sandbox_s"]
        reasons = record["reasons"]
        self.rejections.update(reasons)
        if not record["accepted"]:
            self.counts["skipped" if is_skip(reasons) else "rejected"] += 1
        if any(r in PARSE_REASONS for r in reasons):
            self.counts["parse_failures"] += 1
        metrics = record["verdict"].get("metrics") or {}
        outputs = record["train_predictions"]
        twin = tuple(reasons) == ("same_behaviour",)  # all of train ran: the population sees it as the twin it is
        if outputs is None or ("train" not in metrics and not record.get("train_expected") and not twin):
            return
        if "train" in metrics:  # real outputs on all of train (not a proposer's expected ones)
            self.behaviours.setdefault(behaviour_signature(self.task, outputs), (record["iteration"], record["id"]))
        key = self.task.selection_key
        val = metrics.get("validation")
        train = metrics.get("train") or self.evaluator.score_outputs("train", outputs).to_dict()
        self.population.add(Member(
            record["id"], record["code"], tuple(outputs), train[key],
            val[key] if val else None, bool(record["accepted"]), len(record["code"]),
            parents=tuple(record["parent_ids"] or ()),
        ))
        if not record["accepted"]:
            return
        self.counts["accepted"] += 1
        self.counts["stored"] += int(bool(record.get("skill_version")))  # a new version: validation beat the last
        self.accepted_scores.append((record["iteration"], val[key]))
        if self.best is None or val[key] > self.best["metrics"]["validation"][key]:
            self.best = {"candidate_id": record["id"], "name": self.config.skill_name,
                         "version": record["skill_version"], "metrics": metrics, "note": record.get("note") or ""}
            test_failed = (record["verdict"].get("details") or {}).get("gate:test")
            if test_failed:  # test decides nothing, but its missing row must say why
                self.best["test"] = test_failed

    @classmethod
    def resume(cls, config: RunConfig, task: Task, backend: Backend, proposer: Proposer, store: Store,
               run_id: str, libraries: dict[str, Library] | None = None) -> "Run":
        """Rebuild a run's state from the store, ready to continue where it stopped.

        Candidates of an iteration cut short are held back until that iteration's proposals
        are made again, so those proposals see the same population the first attempt saw.
        """
        run = cls(config, task, backend, proposer, store, run_id=run_id, libraries=libraries)
        records = []
        for row in store.candidates(run_id):  # a damaged one: one line naming it
            record = store.decoded(row)
            records.append({**record, "train_predictions": train_outputs(task, record["train_predictions"])})
        per_iteration = Counter(r["iteration"] for r in records if r["iteration"] != SEED_ITERATION)
        last = max(per_iteration, default=SEED_ITERATION)
        cut_short = last if last != SEED_ITERATION and per_iteration[last] < config.batch else None
        run.next_iteration = last if cut_short is not None else last + 1
        run.seeded = tuple(r["model"] for r in records if r["iteration"] == SEED_ITERATION and r["proposer"] == "reuse")
        for record in records:  # live, _judge notes each program before it runs; here, from the store
            run.seen.setdefault(ast_hash(record["code"]), record["id"])
            if record["iteration"] == cut_short:
                run.held.append(record)
                run.stored_ids.add(record["id"])
            else:
                run._absorb(record)
        done = run.next_iteration - 1
        run.last_reasons = tuple(dict.fromkeys(r for rec in records if rec["iteration"] == done for r in rec["reasons"]))
        # what the run spent before: --max-cost-usd and the ledger count the whole run, not the last part
        row = store.run(run_id)
        stored = store.run_json(row, "summary")
        run.earlier_wall_s = float(stored.get("wall_s") or 0.0)  # the wall time of the parts before
        if not stored and records:  # killed before its summary: from its start to its last stored candidate
            started = datetime.fromisoformat(row["started_at"])
            last = max(datetime.fromisoformat(r["created_at"]) for r in records)
            run.earlier_wall_s = max(0.0, (last - started).total_seconds())
        booked = store.calls(run_id)
        earlier = Ledger.earlier_calls(stored, records, booked)
        if earlier and not booked and run.pays:  # begun before the store booked calls: book its first part now
            for call in earlier:
                run._book(call)
        run.ledger.restore(earlier)
        getattr(proposer, "restore_density", lambda _rows: None)(booked)
        answered = getattr(proposer, "restore_answers", None)
        if answered:  # paid for in the iteration to redo, not judged yet: a request asked again takes its answer
            answered([r for r in booked if r["iteration"] >= run.next_iteration])
        restore = getattr(proposer, "restore_feedback", None)
        if restore and done >= 0:  # the last iteration's gate details, which the next prompt shows
            restore(done, gate_details(r for r in records if r["iteration"] == done))
        getattr(proposer, "restore_calls", lambda _calls: None)(earlier)
        models = (stored.get("llm") or {}).get("models") or {}
        if not models and booked:  # killed before its summary: of its counts, the answers its calls booked
            answers = Counter(f"{r['provider']}:{r['model']}" for r in booked)
            models = {key: {"answers": n} for key, n in answers.items()}
        getattr(proposer, "restore_stats", lambda _models: None)(models)
        return run

    # ------------------------------------------------------------ the whole run

    def execute(self, progress: Progress | None = None, reuse: list[tuple[str, str]] | None = None) -> dict[str, Any]:
        started = time.perf_counter()
        if self.resumed:
            self.store.mark_run(self.run_id, "running")
        else:
            self.store.start_run(self.run_id, self.task.name, self.config.to_dict(), self.backend.name)
        status = "failed"
        try:
            self.score_libraries()
            pool = ThreadPoolExecutor(max_workers=self.config.workers)
            try:
                if reuse and not self.resumed:
                    self.seed_with(reuse, pool)
                for iteration in range(self.next_iteration, self.config.iters):
                    self.iteration(iteration, pool)
                    self.store.checkpoint()  # the iteration is in the store's file, not only its -wal
                    self.next_iteration = iteration + 1
                    if progress:
                        progress(iteration + 1, self.snapshot())
                    if self.stop_reason:
                        break
            except KeyboardInterrupt:
                # end the requests under way now, not at their deadlines, and wait for no thread: an
                # interrupt that lands inside a lock's `with` can leave the lock held, and a thread
                # waiting on it would hold the exit back (the CLI exits without joining them)
                self.backend.close()
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            pool.shutdown(wait=True)
            status = "stopped" if self.stop_reason else "finished"
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        except Exception as exc:
            self.error = " ".join(str(exc).split()) or type(exc).__name__
            raise
        finally:
            summary = self.summary(time.perf_counter() - started)
            self.store.finish_run(self.run_id, status, summary)
        return summary

    def snapshot(self) -> dict[str, Any]:
        return {
            "accepted": self.counts["accepted"],
            "candidates": self.counts["candidates"],
            "metric": self.task.selection_key,
            "best_validation": self.best["metrics"]["validation"][self.task.selection_key] if self.best else None,
        }

    def summary(self, wall_s: float) -> dict[str, Any]:
        from tasks.metrics import majority_accuracy

        rejections, skipped = split_reasons(self.rejections)
        return {
            "run_id": self.run_id,
            "task": self.task.name,
            "data": self.task.source,
            "proposer": self.proposer.name,
            "model": self.proposer.model,
            "sandbox": self.backend.name,
            "sandbox_label": getattr(self.backend, "label", self.backend.name),
            "sandbox_restarts": getattr(self.backend, "restarts", 0),  # workers lost and replaced (killed, paused, OOM)
            "iterations": self.config.iters,
            "resumed": self.resumed,
            "candidates": self.counts["candidates"],
            "accepted_count": self.counts["accepted"],
            "stored_count": self.counts["stored"],  # accepted and kept as a new version of the skill
            "parse_failures": self.counts["parse_failures"],
            "rejected_count": self.counts["rejected"],
            "skipped_count": self.counts["skipped"],
            "rejections": rejections,  # failures of the gate
            "skipped": skipped,  # stops of the cascade
            "stages": {stage: self.stages[stage] for stage in STOPS if self.stages[stage]},
            "tokens": {**self.tokens, "total": self.tokens["prompt"] + self.tokens["completion"]},
            "population": self.population.stats(),  # islands, specialists, migrations, duplicates set aside
            "warnings": list(self.warnings),
            "best": self.best,
            "metric": self.task.selection_key,
            "majority_accuracy": (
                {s: majority_accuracy(self.task.split(s).labels) for s in ("train", "validation", "test")}
                if self.task.kind == "classification" else None
            ),
            "wall_s": round(self.earlier_wall_s + wall_s, 2),
            "sandbox_s": round(self.sandbox_s, 2),
            "store": str(self.store.path),
            "test_note": TEST_NOTE,
            **self._llm_summary(),
        }

    def _llm_summary(self) -> dict[str, Any]:
        """Strategy, token ledger, per-model answer counts, break-even, and why the run stopped."""
        ledger = self.ledger.summary()
        stats = getattr(self.proposer, "stats", None)
        out: dict[str, Any] = {
            "strategy": self.config.strategy, "ledger": ledger, "llm": stats() if stats else None,
            "stop_reason": self.stop_reason, "error": self.error, "break_even": None,
        }
        if ledger["calls"] and self.best:  # no skill accepted: nothing to repay
            try:
                given = self.config.baseline_tokens_per_example
                creator = None if given else (out["llm"] or {}).get("creator")
                baseline = baseline_from_flag(given) if given else find_baseline(self.store, self.task.name, creator)
                out["break_even"] = break_even(ledger, baseline, creator)
            except Exception as exc:  # noqa: BLE001 - a summary never fails a run
                out["break_even"] = {"error": str(exc)}
        return out
