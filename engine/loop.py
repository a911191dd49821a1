"""The evolution loop: propose, gate, evaluate in the sandbox, archive, select; repeat."""
from __future__ import annotations

import random
import secrets
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, Callable

from engine.config import RunConfig
from engine.evaluate import Evaluation, Evaluator
from engine.population import Member, Population
from engine.proposers.base import ParentInfo, ProposalContext, Proposer, TaskCard
from engine.records import Proposal, Task
from sandbox.backend import Backend
from skills_store.describe import describe
from skills_store.store import Store, sha256

PARSE_REASONS = ("static:syntax", "static:no_solve")
TEST_NOTE = "test split: scored for accepted skills only, never shown to a proposer, never used to select or version"

Progress = Callable[[int, dict[str, Any]], None]


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


class Run:
    def __init__(self, config: RunConfig, task: Task, backend: Backend, proposer: Proposer, store: Store):
        self.config = config
        self.task = task
        self.backend = backend
        self.proposer = proposer
        self.store = store
        self.evaluator = Evaluator(task, backend, config.gate, config.limits)
        self.population = Population()
        self.run_id = new_run_id()
        self.rng = random.Random(config.seed)
        self.seen: set[str] = set()
        self.rejections: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()
        self.tokens = {"prompt": 0, "completion": 0}
        self.sandbox_s = 0.0
        self.best: dict[str, Any] | None = None
        self.last_reasons: tuple[str, ...] = ()

    # ------------------------------------------------------------ one iteration

    def _context(self, iteration: int, k: int) -> ProposalContext:
        parents = tuple(
            ParentInfo(m.id, m.code, m.train_predictions, m.train_score, m.validation_score)
            for m in self.population.select(self.rng, self.config.parents)
        )
        seed = (self.config.seed * 1_000_003 + iteration * 101 + k) & 0x7FFFFFFF
        return ProposalContext(TaskCard.of(self.task), iteration, parents, self.last_reasons, seed)

    def _evaluate(self, proposal: Proposal) -> Evaluation | None:
        digest = sha256(proposal.code)
        if digest in self.seen:
            return None
        self.seen.add(digest)
        return self.evaluator.evaluate(proposal.code)

    def iteration(self, iteration: int, pool: ThreadPoolExecutor) -> None:
        proposals = [self.proposer.propose(self._context(iteration, k)) for k in range(self.config.batch)]
        evaluations = list(pool.map(self._evaluate, proposals))
        reasons_now: list[str] = []
        for k, (proposal, evaluation) in enumerate(zip(proposals, evaluations)):
            self._archive(iteration, k, proposal, evaluation)
            if evaluation is not None:
                reasons_now += evaluation.verdict.reasons
        self.last_reasons = tuple(dict.fromkeys(reasons_now))

    def _archive(self, iteration: int, k: int, proposal: Proposal, evaluation: Evaluation | None) -> None:
        cand_id = f"{self.run_id}-{iteration:03d}-{k}"
        self.counts["candidates"] += 1
        self.tokens["prompt"] += proposal.usage.prompt
        self.tokens["completion"] += proposal.usage.completion
        if evaluation is None:
            reasons, stage, verdict, accepted, sandbox_s = ("duplicate",), "static", {"accepted": False, "reasons": ["duplicate"]}, False, 0.0
        else:
            reasons, stage, accepted = evaluation.verdict.reasons, evaluation.stage, evaluation.verdict.accepted
            verdict, sandbox_s = evaluation.verdict.to_dict(), evaluation.sandbox_s
        self.sandbox_s += sandbox_s
        for reason in reasons:
            self.rejections[reason] += 1
        if any(r in PARSE_REASONS for r in reasons):
            self.counts["parse_failures"] += 1
        self.store.add_candidate({
            "id": cand_id, "run_id": self.run_id, "iteration": iteration, "code": proposal.code,
            "code_sha256": sha256(proposal.code), "parent_ids": proposal.parent_ids, "proposer": proposal.proposer,
            "model": proposal.model, "note": proposal.note, "prompt_tokens": proposal.usage.prompt,
            "completion_tokens": proposal.usage.completion, "stage": stage, "accepted": int(accepted),
            "reasons": reasons, "verdict": verdict, "sandbox_s": sandbox_s,
        })
        if evaluation is None or evaluation.train_predictions is None or "train" not in evaluation.verdict.metrics:
            return
        metrics = evaluation.verdict.metrics
        val = metrics.get("validation")
        self.population.add(Member(
            cand_id, proposal.code, evaluation.train_predictions, metrics["train"].mcc,
            val.mcc if val else None, accepted, len(proposal.code),
        ))
        if accepted:
            self.counts["accepted"] += 1
            self._keep(cand_id, proposal, evaluation)

    def _keep(self, cand_id: str, proposal: Proposal, evaluation: Evaluation) -> None:
        metrics = {split: m.to_dict() for split, m in evaluation.verdict.metrics.items()}
        stored = self.store.offer_version(
            self.config.skill_name, self.task.name, proposal.code, metrics, evaluation.verdict.to_dict(),
            proposal.parent_ids,
            {"run_id": self.run_id, "candidate_id": cand_id, "proposer": proposal.proposer, "model": proposal.model,
             "note": proposal.note, "sandbox": self.backend.name, "tokens": proposal.usage.total},
            cand_id,
            description=describe(proposal.code, self.task.name),
        )
        if self.best is None or metrics["validation"]["mcc"] > self.best["metrics"]["validation"]["mcc"]:
            self.best = {
                "candidate_id": cand_id, "name": self.config.skill_name,
                "version": stored.version if stored else None, "metrics": metrics,
            }

    # ------------------------------------------------------------ the whole run

    def execute(self, progress: Progress | None = None) -> dict[str, Any]:
        started = time.perf_counter()
        self.store.start_run(self.run_id, self.task.name, self.config.to_dict(), self.backend.name)
        status = "failed"
        try:
            with ThreadPoolExecutor(max_workers=self.config.workers) as pool:
                for iteration in range(self.config.iters):
                    self.iteration(iteration, pool)
                    if progress:
                        progress(iteration + 1, self.snapshot())
            status = "finished"
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            summary = self.summary(time.perf_counter() - started)
            self.store.finish_run(self.run_id, status, summary)
        return summary

    def snapshot(self) -> dict[str, Any]:
        return {
            "accepted": self.counts["accepted"],
            "candidates": self.counts["candidates"],
            "best_validation_mcc": self.best["metrics"]["validation"]["mcc"] if self.best else None,
        }

    def summary(self, wall_s: float) -> dict[str, Any]:
        majority = {s: self.task.split(s) for s in ("train", "validation", "test")}
        from tasks.metrics import majority_accuracy

        return {
            "run_id": self.run_id,
            "task": self.task.name,
            "data": self.task.source,
            "proposer": self.proposer.name,
            "model": self.proposer.model,
            "sandbox": self.backend.name,
            "sandbox_label": getattr(self.backend, "label", self.backend.name),
            "iterations": self.config.iters,
            "candidates": self.counts["candidates"],
            "accepted_count": self.counts["accepted"],
            "parse_failures": self.counts["parse_failures"],
            "rejections": dict(self.rejections.most_common()),
            "tokens": {**self.tokens, "total": self.tokens["prompt"] + self.tokens["completion"]},
            "best": self.best,
            "majority_accuracy": {s: majority_accuracy(split.labels) for s, split in majority.items()},
            "wall_s": round(wall_s, 2),
            "sandbox_s": round(self.sandbox_s, 2),
            "store": str(self.store.path),
            "test_note": TEST_NOTE,
        }
