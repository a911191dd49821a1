"""Benchmark: does the search beat its start, measured on train alone?

bench/quality.py answers issue 7 on test (1,043 sentences, looked at once per idea). This script
asks the same question without test: 5-fold cross-validation of the whole search on CoLA's train
split. For each fold, the real loop (Docker sandbox, a throwaway store, 25 iterations x 4
candidates, the offline proposer) runs on the other four fifths of train, with the task's own
validation split for the gate and the loop's choices; the held fifth stands in for test, is scored
for accepted skills only and never selects anything. Each of train's 8,551 sentences is held out
exactly once, so the pooled held-out MCC rests on eight times the sentences test has.

Rows, for each fold:
  evolve      the loop as `evolve` runs it (its first candidate the global fit)
  best-of-n   the same proposer and budget, independent samples (the first the same global fit)
  global fit  engine/proposers/global_fit.py on the four fifths alone, no search and not gated (the
              searches' first sample is the same fit with the run's own seed for its folds)
For the two searches, three picks: the bench's (the accepted skill with the best train MCC, as
bench/quality.py picks), the run's own best (best validation MCC: the skill `evolve` reports), and
a significant best (the run's first accepted skill, replaced, in the run's order, only by one whose
validation MCC beats it with a one-sided paired bootstrap p < 0.05: a guard against picking the
luckiest of many similar skills, measured here before anything in the loop uses it).
The table gives per-fold held-out MCC, its mean and spread, the MCC of all folds' held-out
predictions pooled, and evolve minus best-of-N per fold (paired: the same fold, the same start).

What it cannot say: test's out-of-domain half (sources train never shows) has behaved unlike any
held-out part of train (bench/quality.py's docstring), so this is a check of the search on train's
own distribution, not a forecast of test.

Measured in the ninth session (seeds 0 1 2, pooled held-out MCC per seed; bench/results/nested.json):
global fit alone 0.131, 0.132, 0.130; evolve's train-MCC pick 0.125, 0.122, 0.125; evolve's own best
(validation) 0.120, 0.122, 0.116; best-of-N 0.114 to 0.128. On train's own distribution, with eight
times test's sentences, the search lowers held-out MCC from its start, and picking by validation
lowers it most: with a few dozen accepted children of the fit, the best of them on 857 validation
sentences is the luckiest as often as the best.

The significant best: 0.117, 0.129, 0.125 (evolve), 0.117, 0.125, 0.125 (best-of-N). It holds the
fit where the fit opened the run, but in folds where the gate rejected the run's first sample (the
fit with the run's own seed for its threshold's folds) a weak restart became the incumbent and no
child beat it significantly (held-out 0.080 and 0.062 against the fit's 0.141 and 0.093). Not
better than the fit alone either; the loop still reports its best on validation.

Tried here and not kept (the code is on the local branch `alo-screen`; test not looked at): every
mutation that changes a parent's rule set screened by the approximate leave-one-out log-loss of a
ridge fit of its rules (up to three tries for one below the parent's). Induction from the fit never
passed (under the size cap, its new rules push out stronger ones: 0.547 -> 0.552), single-rule
additions passed by 0.0001 to 0.0003. Pooled held-out: train-MCC pick 0.128, 0.118, 0.129; own best
0.124, 0.126, 0.126; both still below the fit alone, so it earned no look at test.

Run: SKILLKILN_DATA_DIR=../shared/data .venv/bin/python bench/nested.py [--seeds 0 1 2] [--folds 5]
(about 20 minutes on 2 cores)
Writes bench/results/nested.json and prints a table.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SKILLKILN_DATA_DIR", str(ROOT.parent / "shared" / "data"))

import numpy as np
from rich.console import Console
from rich.table import Table

from engine.proposers.global_fit import global_fit
from engine.proposers.offline import FeatureBank
from engine.proposers.rule_skill import render
from engine.records import Split
from sandbox.backend import RunRequest
from sandbox.factory import open_backend
from tasks import load_task

from quality import mcc, run_search, say, search_arguments, spread, test_predictions, train_pick  # noqa: E402 - bench/quality.py, beside this script

RESULTS = ROOT / "bench" / "results" / "nested.json"
SEARCHES = (("evolve", "evolve"), ("best-of-n", "best-of-n"))  # (row, strategy)
PICKS = (("train pick", "train"), ("run's best", "validation"),
         ("significant best", "significant"))  # (label, the rule that picks)
BOOTSTRAP = 2000  # paired resamples of validation for the significant-best rule
ALPHA = 0.05


def fold_task(task, folds: np.ndarray, fold: int):
    """TASK with train's FOLD held out as its test split and the rest as train."""
    examples = task.train.examples
    return dataclasses.replace(
        task,
        train=Split("train", tuple(e for e, f in zip(examples, folds) if f != fold)),
        test=Split("test", tuple(e for e, f in zip(examples, folds) if f == fold)),
    )


def picked(found: dict[str, Any], rule: str, validation: dict[str, np.ndarray] | None = None,
           labels: np.ndarray | None = None) -> tuple[dict, str, str] | None:
    """The accepted skill a run yields: by train MCC (the bench's pick), by validation MCC (the run's
    own best, the skill `evolve` reports), or ("significant") the first accepted skill, replaced in
    the run's order only by one whose validation MCC beats it with a one-sided paired bootstrap
    p < ALPHA (VALIDATION: each accepted skill's validation outputs; LABELS: validation's labels)."""
    accepted = found["accepted"]
    if not accepted:
        return None
    if rule == "train":
        return train_pick(accepted)
    if rule == "validation":
        best = found["summary"]["best"]
        return next(a for a in accepted if a[2] == best["candidate_id"])
    assert validation is not None and labels is not None
    rows = np.random.default_rng(0).integers(0, len(labels), size=(BOOTSTRAP, len(labels)))
    incumbent = accepted[0]
    for challenger in accepted[1:]:
        if challenger[0]["validation"]["mcc"] <= incumbent[0]["validation"]["mcc"]:
            continue
        gain = (resampled_mcc(labels, validation[challenger[2]], rows)
                - resampled_mcc(labels, validation[incumbent[2]], rows))
        if (np.sum(gain <= 0) + 1) / (BOOTSTRAP + 1) < ALPHA:
            incumbent = challenger
    return incumbent


def resampled_mcc(labels: np.ndarray, preds: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """MCC on each resample ROWS[b], counted as tasks.metrics.confusion counts (label 1 positive; an
    output that is no label, -1 here, is a miss on a label-1 row and a false positive on a label-0 row)."""
    y, hit = labels[rows] == 1, preds[rows]
    tp = (y & (hit == 1)).sum(1)
    fn = (y & (hit != 1)).sum(1)
    tn = (~y & (hit == 0)).sum(1)
    fp = (~y & (hit != 0)).sum(1)
    denom = np.sqrt(((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)).astype(float))
    return np.where(denom > 0, (tp * tn - fp * fn) / np.where(denom > 0, denom, 1), 0.0)


def validation_outputs(task, backend, accepted: list[tuple[dict, str, str]]) -> dict[str, np.ndarray]:
    """Each accepted skill's validation outputs, run in the sandbox (-1 for an output that is no label)."""
    out = {}
    for _, code, cid in accepted:
        result = backend.run(RunRequest(code=code, texts=tuple(task.validation.texts), kind=task.kind,
                                        labels=task.labels))
        preds = result.predictions if result is not None and result.predictions is not None else [None] * len(task.validation)
        out[cid] = np.array([p if p in (0, 1) else -1 for p in preds])
    return out


def fold_rows(task, backend, seed: int, fold: int, iters: int, batch: int, workers: int) -> dict[str, Any]:
    """Held-out predictions and MCC of every row and pick for one fold."""
    out: dict[str, Any] = {"seed": seed, "fold": fold, "held": len(task.test)}
    started = time.perf_counter()
    code = render(global_fit(FeatureBank(task.train), seed=seed), task.name)
    preds = test_predictions(task, backend, code)
    out["global fit"] = {"held_mcc": mcc(task.test.labels, preds), "preds": preds,
                         "wall_s": round(time.perf_counter() - started, 1)}
    labels = np.array(task.validation.labels)
    for row, strategy in SEARCHES:
        found = run_search(task, backend, seed, strategy, iters, batch, workers)
        validation = validation_outputs(task, backend, found["accepted"])
        for label, rule in PICKS:
            pick = picked(found, rule, validation, labels)
            name = f"{row}, {label}"
            if pick is None:
                out[name] = {"held_mcc": None, "preds": None}
                continue
            metrics, code, cid = pick
            out[name] = {"held_mcc": metrics["test"]["mcc"], "preds": test_predictions(task, backend, code),
                         "train_mcc": metrics["train"]["mcc"], "validation_mcc": metrics["validation"]["mcc"],
                         "candidate": cid, "accepted": len(found["accepted"]), "wall_s": round(found["wall_s"], 1)}
        held = ", ".join(f"{out[f'{row}, {label}']['held_mcc']} ({label})" for label, _ in PICKS)
        say(f"  {row}: held-out MCC {held}, {round(found['wall_s'], 1)} s")
    return out


def summarise(task, folds: np.ndarray, runs: list[dict[str, Any]], seeds: list[int]) -> dict[str, Any]:
    """Per row: held-out MCC per fold, mean and sd, and the pooled MCC of each seed's held-out predictions."""
    names = [k for k in runs[0] if isinstance(runs[0][k], dict)]
    labels = task.train.labels
    out: dict[str, Any] = {}
    for name in names:
        pooled = []
        for seed in seeds:
            preds: list[Any] = [None] * len(labels)
            for r in (r for r in runs if r["seed"] == seed):
                held = np.flatnonzero(folds == r["fold"])
                for i, p in zip(held, r[name]["preds"] or [None] * len(held)):
                    preds[i] = p
            pooled.append(round(mcc(labels, preds), 4))
        out[name] = {"held_mcc": spread([r[name]["held_mcc"] for r in runs]), "pooled_mcc": pooled}
    for label, _ in PICKS:
        diffs = [None if r[f"evolve, {label}"]["held_mcc"] is None or r[f"best-of-n, {label}"]["held_mcc"] is None
                 else r[f"evolve, {label}"]["held_mcc"] - r[f"best-of-n, {label}"]["held_mcc"] for r in runs]
        out[f"evolve - best-of-n, {label}"] = {"held_mcc": spread(diffs)}
    return out


def print_table(report: dict[str, Any]) -> None:
    table = Table(title=f"CoLA train, {report['folds']}-fold cross-validation of the search, seeds {report['seeds']}, "
                        f"{report['iters']} x {report['batch']} (held-out fifth of train; test not used)",
                  title_justify="left")
    for col in ("row", "held-out MCC, mean ± sd", "per fold", "pooled held-out MCC"):
        table.add_column(col, justify="left" if col == "row" else "right")
    for name, s in report["summary"].items():
        h = s["held_mcc"]
        mean = "-" if h["mean"] is None else f"{h['mean']:+.3f}" if name.startswith("evolve -") else f"{h['mean']:.3f}"
        sd = "" if h["sd"] is None else f" ± {h['sd']:.3f}"
        per = ", ".join("-" if v is None else f"{v:.3f}" for v in h["values"])
        pooled = ", ".join(f"{v:.3f}" for v in s.get("pooled_mcc", []))
        table.add_row(name, mean + sd, per, pooled)
    Console(width=150).print(table)


def main() -> None:
    parser = search_arguments(__doc__.split("\n")[0], [0, 1, 2], RESULTS)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    if args.show:
        print_table(json.loads(args.out.read_text()))
        return

    task = load_task("cola")
    folds = np.random.default_rng(12345).permutation(len(task.train)) % args.folds  # fixed: every row sees the same folds
    backend = open_backend(args.sandbox, args.workers, say)
    runs = []
    try:
        for seed in args.seeds:
            for fold in range(args.folds):
                say(f"seed {seed}, fold {fold + 1}/{args.folds}")
                runs.append(fold_rows(fold_task(task, folds, fold), backend, seed, fold, args.iters, args.batch,
                                      args.workers))
    finally:
        backend.close()
    report = {"task": "cola", "seeds": args.seeds, "folds": args.folds, "iters": args.iters, "batch": args.batch,
              "workers": args.workers, "sandbox": backend.name, "cpus": os.cpu_count(),
              "note": "train's held-out fold stands in for test; test is not used",
              "summary": summarise(task, folds, runs, args.seeds),
              "runs": [{k: ({kk: vv for kk, vv in v.items() if kk != "preds"} if isinstance(v, dict) else v)
                        for k, v in r.items()} for r in runs]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    say(f"wrote {args.out}")


if __name__ == "__main__":
    main()
