"""Benchmark: does evolution beat simpler ways to get a CoLA classifier?

Rows, each over the same fixed seeds (default 0 1 2):

  (a) evolve      the real loop (engine.loop.Run, Docker sandbox, a throwaway store) with the
                  offline proposer, 25 iterations x 4 candidates, failure-cluster evidence
                  (engine/evidence.py) in every proposal context and a population that knows
                  the train labels (coverage) and each member's parents (islands); the run's
                  first candidate is the global fit of (f), as `evolve` does by default
  (b) best-of-n   the same loop, proposer and candidate budget with RunConfig.strategy
                  "best-of-n": every proposal is a fresh sample, no parents, no evidence (the
                  first is the same global fit, the rest random restarts)
  (a') and (b')   the same two without the global fit (OfflineProposer(start_fit=False)): the
                  search from random restarts alone, as every session before the eighth measured it
  (c) hand-written  tests/gate_corpus/honest/phenomena.py (a linguist's marker list), gated
  (d) logistic regression on word uni/bigrams and character 2-4-grams (numpy + scipy, ridge,
                  L-BFGS; the threshold from 5-fold out-of-fold predictions on train): the
                  strong non-code reference; seeds only change its folds
  (e) majority    the constant majority label
  (f) global fit  no search: one ridge fit of the offline proposer's rule kinds over its whole feature
                  bank, the 700 strongest rules kept and refitted, the threshold from 5-fold
                  out-of-fold scores (engine/proposers/global_fit.py), gated like any candidate; seeds
                  only change its folds. bench/ceiling.py varies its size and ridge.

Every accepted candidate is scored on all stages (RunConfig.score_all): by default evolve stops
one that cannot beat the run's best on validation before the rest of train and test, which leaves
the run's best and its versions as they are but not the train-MCC pick below.

Which skill a run yields: the accepted skill with the best *train* MCC (ties: shorter). The
loop's own pick (best validation MCC) is reported beside it as "test MCC (val-picked)"; the
last session found that picking by validation overfits its 857 examples. Test (the two official
CoLA dev files) is scored for accepted skills only and never selects anything here.

Tuning note (train only, test never looked at): the offline proposer's refit ridge was checked by
nested 5-fold cross-validation of the whole evolution on train (evolve 25 x 4 on 4/5 of train with
the gate's floors and gap test, pick by train MCC, score the held fifth): held-out MCC 0.145 at the
current REFIT_RIDGE 8, 0.138 at 3, 0.135 at 16, 0.134 at 30 (fold sd about 0.03). Plain ridge
logistic regression on the proposer's whole feature bank (5,610 features, 5-fold CV on train) is best
at *weak* ridge (CV MCC 0.163 at 1-3, 0.144 at 20, 0.121 at 100), and raising the minimum support
from 4 to 8/15/30 lowers CV MCC (0.161 -> 0.143/0.140/0.117): the rare features carry signal. What
limits the skills is the 20 kB size cap (about 700 features; top-700 refits reach CV 0.14-0.15) and
the gate's train-validation accuracy gap test, not under-regularised weights.

Tried and not kept (each chosen on train-only evidence, then test looked at once; the code is on
the local branches `classgram`, `classgram-content` and `content-threshold`):
- word-class 2-3-grams as a rule kind: validation MCC 0.188, test 0.118 +- 0.015;
- rules packed by weight, about 1,200 per skill instead of 650: validation 0.191, test 0.099;
- class grams plus a five times heavier ridge on rules on content (open-class) words, the pick of
  leave-one-source-out CV on train (CoLA names each train sentence's source): validation 0.205,
  test 0.103 +- 0.015, out-of-domain half 0.043;
- a twice heavier ridge on content-word rules, no class grams, the pick of CV over five groups of
  whole sources: a 700-feature ridge model standing in for a skill scored test 0.189 against
  0.129 (out-of-domain 0.157 against 0.048), but evolution gave test 0.100 +- 0.010 (0.024);
- refit's threshold chosen on cross-fitted instead of in-sample scores: test 0.109 +- 0.020
  (out-of-domain 0.043), and one accepted skill below test MCC 0.
One diagnostic look, not a method: a genome from one global ridge fit on train scored test 0.132
(out-of-domain 0.066) at its in-sample threshold and 0.143 (0.133) at a 5-fold out-of-fold one.
Validation, a random tenth of the in-domain train file, rose with most of these; the out-of-domain
half of test stayed at 0.02 to 0.07 for evolved skills in every variant, and neither proxy (random
or source-held-out CV) separated the configurations by more than its fold spread.
Leave-one-source-out CV does not track that half either: the n-gram regression scores 0.066 on it
(words alone 0.066, characters alone 0.042) but 0.126 on the out-of-domain half.

Looked at in the sixth session (scripts not kept; each figure one look):
- the same regression on word and bigram features only (the rule kinds skills have) scores as well
  as with characters: test 0.150 to 0.157 (words and bigrams; the skills' tokens or with
  punctuation, minimum support 2 or 4), 0.155 to 0.167 with 2-3-letter suffixes added, against
  0.131 with characters. The rule kinds are not what holds skills back.
- the number of rules is: ridge logistic regression on the proposer's whole bank (5,610 features;
  4,749 non-zero after rounding to skill weights) reaches 5-fold CV MCC 0.162 on train; the 700 by
  strength 0.138 (ridge 8) to 0.146 (ridge 2); 700 picked by L1 0.128 to 0.144; 1,200 to 3,000 by
  strength 0.144 to 0.150. The 20 kB cap holds about 700.
- thresholds from approximate leave-one-out scores (each example's score corrected by its own
  leverage) on the three chosen skills: test 0.105, 0.135, 0.105 against 0.080, 0.128, 0.118.
- rules mined only from words and bigrams seen in at least 20 train sentences (not 4): evolve test
  0.073, 0.073, 0.047, out-of-domain half 0.017: the rare rules carry signal there too.

Looked at in the eighth session (each figure one look):
- (f), one global fit of the proposer's own rule kinds with no search: test 0.161, 0.123, 0.161
  (validation 0.202, 0.174, 0.202; accepted by the gate), against the search from random starts'
  0.080, 0.128, 0.118 (the same as in the seventh session's run, to the digit).
- the proposer now makes that fit a run's first candidate (start_fit). Evolve from it: the bench's
  train-MCC pick 0.101, 0.124, 0.135 (children of the fit with a little more train MCC and less
  validation MCC); the run's own best by validation 0.161, 0.153, 0.143, the fit itself in seeds 0
  and 2 and a descendant in seed 1 (validation 0.196 against the fit's 0.184). Best-of-N with the same
  first sample: 0.161, 0.109, 0.143 (the fit in every seed). The pick rule stays train MCC, as
  chosen before these figures were seen; issue 7's targets are reported for it.
- a first try gave every candidate of iteration 0 the fit (differing only in its folds' threshold):
  train-MCC pick 0.147, 0.134, 0.127, run's best 0.161, 0.114, 0.137, best-of-N 0.161, 0.109, 0.143.
- bench/ceiling.py: the same fit with 1,500, 3,000 and all 3,583 rules (32 to 72 kB) has
  validation 0.145 to 0.172 and fails both the 20 kB cap and the gap test; a ridge heavy enough to
  pass the gap test at that size (100) leaves 163 rules and validation 0.111.
- the 0.189 of the source-held-out study's content-penalised fit did not carry over: that fit,
  redone on this train split (not train plus validation) and run as a skill, scored 0.125 (its
  uniform-ridge twin 0.123), both accepted by the gate.

Looked at in the ninth session (one look, with a landing rule written down before it):
- refit's threshold from 5-fold out-of-fold scores (as the fit's own) for every refit of a child of
  the fit (local branch `oof-refit-2`). Rule: land only if no accepted skill scores below 0, the
  train-MCC pick's median is at least 0.124 and the run's own best's at least 0.153 (main's). Evolve
  from the fit: train-MCC pick 0.132, 0.124, 0.134 (median 0.132); the run's own best 0.139, 0.117,
  0.143 (median 0.139, against 0.153: not landed), though its validation was the highest yet (0.206,
  0.207, 0.208) and more children were accepted (53, 58, 38 against 38, 34, 22). More accepted
  children made the validation maximum higher and its test lower: the winner's curse of picking among
  many on 857 examples. From random starts: 0.064, 0.082, 0.123. No accepted skill below 0.
- (train only, bench/nested.py's folds, script not kept) the fit's threshold from five fold
  assignments pooled instead of one: held-out MCC 0.1335 against 0.1319, and its spread over seeds
  within a fold no smaller (0.0090 against 0.0081): the MCC curve is flat near its top, so the
  threshold moves with any resampling. Not kept.
- why best-of-N's and evolve's first sample is sometimes not the fit: in 2 of bench/nested.py's 15
  runs the gate rejected the fit for `memorised:gap` (train MCC 0.396 and 0.402 against validation
  0.109 and 0.153 on those four fifths of train).

Measured in the fourteenth session (a correction, not a tuning; landed before this look whatever it
showed, as the islands the issue asks for): a child goes to the island its parents were drawn from,
where before every child of the global best went back to the best's first island and the island
restarted from it stayed one member (islands ended 8 and 1 to 8 and 3; now 4 and 8 to 8 and 8).
Train-MCC pick 0.138, 0.115, 0.094 (before 0.128, 0.150, 0.135); the run's own best 0.161, 0.129,
0.143 (before 0.161, 0.153, 0.143); from random starts 0.073, 0.106, 0.085. A second island that
really searches from the fit finds more children with more train MCC. On train alone the same
correction went the other way (bench/nested.py, seed 0, before and after on one machine,
bench/results/nested-islands.json): the train-MCC pick's pooled held-out MCC 0.129 -> 0.135 (the fit
0.131), the run's own best 0.119 -> 0.123, over 8,551 held-out sentences against test's 1,043.

Run: SKILLKILN_DATA_DIR=../shared/data .venv/bin/python bench/quality.py [--seeds 0 1 2] [--iters 25]
Writes bench/results/quality.json and prints a table.

LLM rows: `--proposer ollama|anthropic [--model M] [--repairer P:M] [--ollama-host URL]` adds
"evolve (PROVIDER:MODEL)" and "best-of-n (PROVIDER:MODEL)" rows, the same seeds and candidate
budget as the offline rows, each with the tokens its proposer spent (the ledger's total).
`--transcripts DIR` records each of those runs as DIR/STRATEGY-seedN.jsonl, and
`--proposer replay --transcripts DIR` replays them to the same rows, with no model reachable.
`--llm-only` runs only the LLM rows (no targets). No LLM is reachable from the machines this was
built on, so bench/results/quality.json holds no LLM rows; tests/llm/test_bench_llm_rows.py runs
the rows over the Anthropic wire format against a local fake server and replays them.
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import os
import statistics
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SKILLKILN_DATA_DIR", str(ROOT.parent / "shared" / "data"))

import numpy as np
from rich.console import Console
from rich.table import Table
from scipy import sparse
from scipy.optimize import minimize

from engine.config import RunConfig, default_workers
from engine.evaluate import Evaluator
from engine.loop import Run
from engine.proposers import make_proposer
from engine.proposers.global_fit import global_fit
from engine.proposers.offline import FeatureBank, OfflineProposer
from engine.proposers.rule_skill import render
from sandbox.backend import RunRequest
from sandbox.factory import open_backend
from skills_store.store import Store
from tasks import load_task
from tasks.metrics import confusion, mcc_from_confusion

RESULTS = ROOT / "bench" / "results" / "quality.json"
HAND_WRITTEN = ROOT / "tests" / "gate_corpus" / "honest" / "phenomena.py"
TARGET_TEST_MCC = 0.15
TARGET_WALL_S = 300.0
SEARCHES = (  # (row, strategy, the proposer's start_fit)
    ("evolve (offline)", "evolve", True), ("best-of-n (offline)", "best-of-n", True),
    ("evolve, random start", "evolve", False), ("best-of-n, random restarts", "best-of-n", False),
)
IN_DOMAIN_DEV = 527  # rows of CoLA's in_domain_dev.tsv (out_of_domain_dev.tsv: 516)


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def mcc(labels, preds) -> float:
    return mcc_from_confusion(*confusion(list(labels), list(preds)))


@functools.cache
def in_domain_test_count() -> int:
    """How many of test's examples (first) come from in_domain_dev.tsv; the rest are out_of_domain_dev.tsv
    (tasks/cola.py builds test from the two files in that order, as GLUE's validation split is)."""
    data = os.environ.get("SKILLKILN_DATA_DIR")
    path = Path(data) / "cola" / "in_domain_dev.tsv" if data else None
    if path is not None and path.is_file():
        return sum(1 for line in path.read_text().splitlines() if line.strip())
    return IN_DOMAIN_DEV


def domain_mccs(task, preds) -> dict[str, float | None]:
    """Test MCC on the in-domain and the out-of-domain half of test."""
    if preds is None or len(preds) != len(task.test):
        return {"test_in_mcc": None, "test_out_mcc": None}
    n = in_domain_test_count()
    labels = list(task.test.labels)
    return {"test_in_mcc": mcc(labels[:n], preds[:n]), "test_out_mcc": mcc(labels[n:], preds[n:])}


def test_predictions(task, backend, code: str) -> list[Any] | None:
    """A skill's outputs on test, run in the sandbox (an output that is no label counts as wrong)."""
    return label_outputs(task, backend.run(RunRequest(code=code, texts=tuple(task.test.texts), kind=task.kind,
                                                      labels=task.labels)))


def label_outputs(task, result) -> list[Any] | None:
    """RESULT's outputs, an output that is no label as None (it counts as wrong)."""
    if result is None or result.predictions is None:
        return None
    return [p if p in task.labels else None for p in result.predictions]


def run_search(task, backend, seed: int, strategy: str, iters: int, batch: int, workers: int,
               start_fit: bool = True, llm: dict[str, Any] | None = None) -> dict[str, Any]:
    """One run of the real loop in a throwaway store, every accepted candidate scored on every split:
    its summary, wall seconds, accepted (metrics, code, candidate id) triples, evidence log and
    population statistics. LLM: RunConfig's proposer and LLM fields, for an LLM proposer's run."""
    with tempfile.TemporaryDirectory(prefix="skillkiln-quality-") as tmp:
        path = Path(tmp) / "store.sqlite"
        store = Store(path)
        config = RunConfig(task=task.name, iters=iters, batch=batch, seed=seed, sandbox=backend.name,
                           workers=workers, store_path=path, strategy=strategy, score_all=True, **(llm or {}))
        proposer = (make_proposer(config.proposer, seed, config, say, task=task.name) if llm
                    else OfflineProposer(seed=seed, start_fit=start_fit))
        run = Run(config, task, backend, proposer, store)  # evidence is wired into the loop
        started = time.perf_counter()
        try:
            summary = run.execute()
        finally:
            getattr(proposer, "close", lambda: None)()
        wall = time.perf_counter() - started
        accepted = [(json.loads(r["verdict"])["metrics"], r["code"], r["id"])
                    for r in store.candidates(run.run_id) if r["accepted"]]
        evidence_log = store.iterations(run.run_id)
        store.close()
    return {"summary": summary, "wall_s": wall, "accepted": accepted, "evidence": evidence_log,
            "population": run.population.stats()}


def train_pick(accepted: list[tuple[dict, str, str]]) -> tuple[dict, str, str]:
    """The bench's pick: the accepted skill with the best train MCC (ties: shorter)."""
    return max(accepted, key=lambda a: (a[0]["train"]["mcc"], -len(a[1])))


def evolve_row(task, backend, seed: int, strategy: str, iters: int, batch: int, workers: int,
               start_fit: bool = True, llm: dict[str, Any] | None = None) -> dict[str, Any]:
    found = run_search(task, backend, seed, strategy, iters, batch, workers, start_fit, llm)
    summary, wall, accepted, evidence_log = found["summary"], found["wall_s"], found["accepted"], found["evidence"]
    out: dict[str, Any] = {"seed": seed, "wall_s": round(wall, 1), "candidates": summary["candidates"],
                           "accepted": len(accepted), "evidence": evidence_log,
                           "population": found["population"],
                           # what the proposer spent: every token, and the answers that never parsed
                           "tokens": (summary.get("ledger") or {}).get("total", 0),
                           "parse_failures": summary.get("parse_failures", 0)}
    if not accepted:
        return {**out, "test_mcc": None, "test_in_mcc": None, "test_out_mcc": None, "validation_mcc": None,
                "train_mcc": None, "size": None}
    metrics, code, cid = train_pick(accepted)
    best = summary["best"]
    tests = [a[0]["test"]["mcc"] for a in accepted if "test" in a[0]]
    return {
        **out,
        "chosen": cid,
        "train_mcc": metrics["train"]["mcc"],
        "validation_mcc": metrics["validation"]["mcc"],
        "test_mcc": metrics["test"]["mcc"],
        **domain_mccs(task, test_predictions(task, backend, code)),
        "size": len(code.encode()),
        "val_picked_test_mcc": best["metrics"]["test"]["mcc"] if best else None,
        "val_picked_validation_mcc": best["metrics"]["validation"]["mcc"] if best else None,
        "min_accepted_test_mcc": min(tests) if tests else None,
        "accepted_test_below_0": sum(t < 0 for t in tests),
    }


# ----------------------------------------------------------------------------- references


def gated_row(task, backend, code: str, started: float) -> dict[str, Any]:
    """One skill through the gate: its verdict, MCC per split and per half of test, size, and the
    seconds since STARTED."""
    evaluation = Evaluator(task, backend).evaluate(code)
    metrics = evaluation.verdict.metrics
    return {
        "accepted": evaluation.verdict.accepted, "reasons": list(evaluation.verdict.reasons),
        "train_mcc": metrics["train"].mcc if "train" in metrics else None,
        "validation_mcc": metrics["validation"].mcc if "validation" in metrics else None,
        "test_mcc": metrics["test"].mcc if "test" in metrics else None,
        **domain_mccs(task, label_outputs(task, evaluation.results.get("test"))),
        "size": len(code.encode()), "wall_s": round(time.perf_counter() - started, 1),
    }


def hand_written_row(task, backend) -> dict[str, Any]:
    return gated_row(task, backend, HAND_WRITTEN.read_text(), time.perf_counter())


def global_fit_row(task, backend, seed: int) -> dict[str, Any]:
    """(f) one global fit of the offline proposer's rule kinds (engine/proposers/global_fit.py), no search,
    gated like any candidate; the seed assigns the folds its threshold is chosen on."""
    started = time.perf_counter()
    code = render(global_fit(FeatureBank(task.train), seed=seed), task.name)
    return {"seed": seed, **gated_row(task, backend, code, started)}


def _grams(text: str) -> list[str]:
    import re

    words = re.findall(r"[a-z0-9']+|[^\sa-z0-9']", text.lower())
    out = [f"w:{w}" for w in words] + [f"b:{a} {b}" for a, b in pairwise(words)]
    for w in words:
        padded = f" {w} "
        out += [f"c:{padded[i:i + n]}" for n in (2, 3, 4) for i in range(len(padded) - n + 1)]
    return out


class NgramLogistic:
    """Ridge logistic regression on binary word and character n-gram features."""

    def __init__(self, ridge: float = 2.0, min_df: int = 2):
        self.ridge, self.min_df = ridge, min_df
        self.vocab: dict[str, int] = {}
        self.w = np.zeros(0)
        self.b = 0.0

    def _matrix(self, texts) -> sparse.csr_matrix:
        rows, cols = [], []
        for i, t in enumerate(texts):
            js = {self.vocab[g] for g in _grams(t) if g in self.vocab}
            rows += [i] * len(js)
            cols += sorted(js)
        return sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(texts), len(self.vocab)))

    def fit(self, texts, y) -> NgramLogistic:
        df: dict[str, int] = {}
        for t in texts:
            for g in set(_grams(t)):
                df[g] = df.get(g, 0) + 1
        self.vocab = {g: j for j, g in enumerate(sorted(g for g, n in df.items() if n >= self.min_df))}
        x = self._matrix(texts)
        y = np.asarray(y, dtype=float)

        def objective(theta):
            z = x @ theta[1:] + theta[0]
            p = 1 / (1 + np.exp(-np.clip(z, -30, 30)))
            loss = -(y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12)).sum() + 0.5 * self.ridge * (theta[1:] ** 2).sum()
            return loss, np.concatenate([[(p - y).sum()], x.T @ (p - y) + self.ridge * theta[1:]])

        theta = minimize(objective, np.zeros(len(self.vocab) + 1), jac=True, method="L-BFGS-B",
                         options={"maxiter": 300}).x
        self.b, self.w = float(theta[0]), theta[1:]
        return self

    def decision(self, texts) -> np.ndarray:
        return self._matrix(texts) @ self.w + self.b


def best_cut(z: np.ndarray, flagged: np.ndarray) -> float:
    cuts = np.quantile(z, np.linspace(0.02, 0.98, 97))
    return float(max(cuts, key=lambda c: mcc(flagged.astype(int), (z >= c).astype(int))))


def logistic_row(task, seed: int) -> dict[str, Any]:
    started = time.perf_counter()
    texts = list(task.train.texts)
    flagged = np.array([label == 0 for label in task.train.labels])  # model the unacceptable label
    folds = np.random.default_rng(seed).permutation(len(texts)) % 5
    oof = np.zeros(len(texts))
    for f in range(5):
        fit_on = np.flatnonzero(folds != f)
        held = np.flatnonzero(folds == f)
        model = NgramLogistic().fit([texts[i] for i in fit_on], flagged[fit_on])
        oof[held] = model.decision([texts[i] for i in held])
    cut = best_cut(oof, flagged)
    model = NgramLogistic().fit(texts, flagged)

    def predict(split) -> list[int]:
        return np.where(model.decision(list(split.texts)) >= cut, 0, 1).tolist()

    test = predict(task.test)
    return {"seed": seed, "train_mcc": mcc(task.train.labels, predict(task.train)),
            "validation_mcc": mcc(task.validation.labels, predict(task.validation)),
            "test_mcc": mcc(task.test.labels, test), **domain_mccs(task, test),
            "cv_mcc": mcc(flagged.astype(int), (oof >= cut).astype(int)),
            "features": len(model.vocab), "size": None, "wall_s": round(time.perf_counter() - started, 1)}


def majority_row(task) -> dict[str, Any]:
    labels = list(task.train.labels)
    top = max(set(labels), key=labels.count)
    return {"train_mcc": mcc(task.train.labels, [top] * len(task.train)),
            "validation_mcc": mcc(task.validation.labels, [top] * len(task.validation)),
            "test_mcc": mcc(task.test.labels, [top] * len(task.test)),
            **domain_mccs(task, [top] * len(task.test)), "size": None, "wall_s": 0.0}


# ----------------------------------------------------------------------------- summary


def spread(values: list[float | None]) -> dict[str, Any]:
    vals = [v for v in values if v is not None]
    if not vals:
        return {"mean": None, "sd": None, "median": None, "min": None, "max": None, "values": values}
    return {"mean": round(statistics.fmean(vals), 4), "sd": round(statistics.stdev(vals), 4) if len(vals) > 1 else 0.0,
            "median": round(statistics.median(vals), 4), "min": round(min(vals), 4), "max": round(max(vals), 4),
            "values": [None if v is None else round(v, 4) for v in values]}


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("test_mcc", "test_in_mcc", "test_out_mcc", "validation_mcc", "train_mcc", "size", "wall_s", "val_picked_test_mcc",
            "tokens", "parse_failures")
    return {k: spread([r.get(k) for r in rows]) for k in keys if any(r.get(k) is not None for r in rows)}


def fmt(s: dict[str, Any] | None, digits: int = 3) -> str:
    if not s or s.get("mean") is None:
        return "-"
    if s["sd"]:
        return f"{s['mean']:.{digits}f} ± {s['sd']:.{digits}f}"
    return f"{s['mean']:.{digits}f}"


def print_table(report: dict[str, Any]) -> None:
    table = Table(title=f"CoLA quality, seeds {report['seeds']}, {report['iters']} iterations x {report['batch']} "
                        f"candidates (test = official dev files, never used to select)", title_justify="left")
    for col in ("method", "test MCC", "test MCC per seed", "test MCC in-domain", "test MCC out-of-domain", "val MCC", "size (bytes)", "wall s",
                "test MCC (val-picked)", "tokens"):
        table.add_column(col, justify="left" if col == "method" else "right")
    for name, row in report["methods"].items():
        s = row["summary"]
        per_seed = ", ".join("-" if v is None else f"{v:.3f}" for v in s.get("test_mcc", {}).get("values", []))
        table.add_row(name, fmt(s.get("test_mcc")), per_seed, fmt(s.get("test_in_mcc")), fmt(s.get("test_out_mcc")),
                      fmt(s.get("validation_mcc")),
                      fmt(s.get("size"), 0), fmt(s.get("wall_s"), 1), fmt(s.get("val_picked_test_mcc")),
                      fmt(s.get("tokens"), 0))
    Console(width=170).print(table)
    t = report.get("targets")
    if not t:  # --llm-only: no offline rows to hold the targets against
        return
    Console(width=150).print(
        f"targets: evolve median test MCC {t['evolve_median_test_mcc']} (>= {TARGET_TEST_MCC}: "
        f"{t['median_test_mcc_met']}); median wall {t['evolve_median_wall_s']} s (< {TARGET_WALL_S:g}: "
        f"{t['wall_met']}); evolve - best-of-n = {t['margin_over_best_of_n']} vs spread {t['spread']} "
        f"(met: {t['margin_met']}); from random starts: {t.get('random_start_margin')} vs spread "
        f"{t.get('random_start_spread')} (met: {t.get('random_start_margin_met')}); accepted skills with "
        f"test MCC < 0: {t['accepted_below_0']} (met: {t['no_negative_met']})")


def margin(methods: dict[str, Any], evolve: str, best_of_n: str) -> dict[str, Any]:
    """Mean test MCC of EVOLVE minus BEST_OF_N's, against the larger spread (sd) across seeds."""
    es, bs = methods[evolve]["summary"]["test_mcc"], methods[best_of_n]["summary"]["test_mcc"]
    gap = round(es["mean"] - bs["mean"], 4) if es["mean"] is not None and bs["mean"] is not None else None
    sd = max(es["sd"] or 0.0, bs["sd"] or 0.0)
    return {"margin": gap, "spread": sd, "met": gap is not None and gap > sd}


def targets(methods: dict[str, Any]) -> dict[str, Any]:
    """Issue 7's targets, for `evolve` as it runs by default (from the global fit) against best-of-N
    with the same proposer; the same margin for the search from random restarts alone beside it."""
    evo, bon = methods["evolve (offline)"], methods["best-of-n (offline)"]
    es = evo["summary"]["test_mcc"]
    searches = [m for m in methods if m.startswith(("evolve", "best-of-n"))]
    below = sum(r.get("accepted_test_below_0", 0) for m in searches for r in methods[m]["rows"])
    wall = evo["summary"]["wall_s"]["median"]
    default, random_start = (margin(methods, "evolve (offline)", "best-of-n (offline)"),
                             margin(methods, "evolve, random start", "best-of-n, random restarts"))
    return {
        "evolve_median_test_mcc": es["median"], "median_test_mcc_met": es["median"] is not None and es["median"] >= TARGET_TEST_MCC,
        "evolve_median_wall_s": wall, "wall_met": wall is not None and wall < TARGET_WALL_S,
        "margin_over_best_of_n": default["margin"], "spread": default["spread"], "margin_met": default["met"],
        "random_start_margin": random_start["margin"], "random_start_spread": random_start["spread"],
        "random_start_margin_met": random_start["met"],
        "accepted_below_0": below, "no_negative_met": below == 0,
    }


def search_arguments(description: str, seeds: list[int], out: Path) -> argparse.ArgumentParser:
    """The options a benchmark of whole runs takes (this script's and bench/nested.py's)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seeds", type=int, nargs="+", default=seeds)
    parser.add_argument("--iters", type=int, default=25)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--sandbox", default="docker")
    parser.add_argument("--out", type=Path, default=out)
    parser.add_argument("--show", action="store_true", help="Print the table of the stored results and exit.")
    return parser


def llm_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The LLM rows: evolve and best-of-n with an LLM proposer, the same candidate budget as the offline rows."""
    parser.add_argument("--proposer", choices=("ollama", "anthropic", "replay"), default=None,
                        help="Add evolve and best-of-n rows with this LLM proposer.")
    parser.add_argument("--model", default=None, help="The creator model (default: evolve's default for the proposer).")
    parser.add_argument("--repairer", default=None, metavar="PROVIDER:MODEL")
    parser.add_argument("--ollama-host", default=None)
    parser.add_argument("--transcripts", type=Path, default=None, metavar="DIR",
                        help="Live: record each LLM run there as STRATEGY-seedN.jsonl; replay: read them from there.")
    parser.add_argument("--llm-only", action="store_true", help="Only the LLM rows (no offline rows, no targets).")
    return parser


def llm_searches(args) -> list[tuple[str, str, Any]]:
    """(row name, strategy, seed -> evolve_row options) of the LLM rows the options ask for."""
    if args.proposer is None:
        return []
    from engine.proposers.llm import DEFAULT_MODELS

    live = args.proposer != "replay"
    if not live and args.transcripts is None:
        raise SystemExit("--proposer replay needs --transcripts DIR (written by a live run with --transcripts DIR)")
    if live and args.transcripts:
        args.transcripts.mkdir(parents=True, exist_ok=True)
    label = f"{args.proposer}:{args.model or DEFAULT_MODELS[args.proposer]}" if live else "replay"
    searches = []
    for strategy in ("evolve", "best-of-n"):
        def options(seed: int, strategy: str = strategy) -> dict[str, Any]:
            file = str(args.transcripts / f"{strategy}-seed{seed}.jsonl") if args.transcripts else None
            return {"llm": {"proposer": args.proposer, "creator": label if live else None,
                            "repairer": args.repairer if live else None, "ollama_host": args.ollama_host,
                            "transcript": None if live else file, "record": file if live else None}}
        searches.append((f"{strategy} ({label})", strategy, options))
    return searches


def search_rows(task, backend, args, searches) -> dict[str, Any]:
    """One row per search (name, strategy, and the offline start_fit or seed -> evolve_row options), one run per seed."""
    methods: dict[str, Any] = {}
    for name, strategy, how in searches:
        rows = []
        for seed in args.seeds:
            say(f"{name}: seed {seed}")
            options = how(seed) if callable(how) else {"start_fit": how}
            rows.append(evolve_row(task, backend, seed, strategy, args.iters, args.batch, args.workers, **options))
            say(f"  test MCC {rows[-1]['test_mcc']}, val {rows[-1]['validation_mcc']}, "
                f"{rows[-1]['tokens']} tokens, wall {rows[-1]['wall_s']} s")
        methods[name] = {"rows": rows, "summary": summarise(rows)}
    return methods


def write_report(report: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=lambda o: None if isinstance(o, float) and math.isnan(o) else str(o)) + "\n")
    print_table(report)
    say(f"wrote {out}")


def main() -> None:
    args = llm_arguments(search_arguments(__doc__.split("\n")[0], [0, 1, 2], RESULTS)).parse_args()
    if args.show:
        print_table(json.loads(args.out.read_text()))
        return

    task = load_task("cola")
    backend = open_backend(args.sandbox, args.workers, say)
    try:
        methods = search_rows(task, backend, args, llm_searches(args))
        if not args.llm_only:
            methods.update(search_rows(task, backend, args, SEARCHES))
            say("hand-written reference")
            hand = hand_written_row(task, backend)
            methods["hand-written (phenomena.py)"] = {"rows": [hand], "summary": summarise([hand])}
            say("global fit, no search")
            rows = [global_fit_row(task, backend, seed) for seed in args.seeds]
            methods["global fit (no search)"] = {"rows": rows, "summary": summarise(rows)}
    finally:
        backend.close()
    report = {
        "task": "cola", "seeds": args.seeds, "iters": args.iters, "batch": args.batch, "workers": args.workers,
        "sandbox": backend.name, "cpus": os.cpu_count(), "selection": "accepted skill with the best train MCC",
        "test_note": "test = the two official CoLA dev files: scored for accepted skills, never used to select or tune",
        "methods": methods,
    }
    if args.llm_only:  # no offline rows: nothing to hold the targets against
        write_report(report, args.out)
        return
    say("logistic regression")
    rows = [logistic_row(task, seed) for seed in args.seeds]
    methods["logistic regression (n-grams)"] = {"rows": rows, "summary": summarise(rows)}
    major = majority_row(task)
    methods["majority"] = {"rows": [major], "summary": summarise([major])}
    report["targets"] = targets(methods)
    write_report(report, args.out)


if __name__ == "__main__":
    main()
