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
For the two searches, two picks: the bench's (the accepted skill with the best train MCC, as
bench/quality.py picks) and the run's own best (best validation MCC: the skill `evolve` reports).
The table gives per-fold held-out MCC, its mean and spread, the MCC of all folds' held-out
predictions pooled, and evolve minus best-of-N per fold (paired: the same fold, the same start).

What it cannot say: test's out-of-domain half (sources train never shows) has behaved unlike any
held-out part of train (bench/quality.py's docstring), so this is a check of the search on train's
own distribution, not a forecast of test.

Run: SKILLKILN_DATA_DIR=../shared/data .venv/bin/python bench/nested.py [--seeds 0] [--folds 5]
Writes bench/results/nested.json and prints a table.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
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

from engine.config import default_workers
from engine.proposers.global_fit import global_fit
from engine.proposers.offline import FeatureBank
from engine.proposers.rule_skill import render
from engine.records import Split
from sandbox.factory import open_backend
from tasks import load_task

from quality import mcc, run_search, test_predictions, train_pick  # noqa: E402 - bench/quality.py, beside this script

RESULTS = ROOT / "bench" / "results" / "nested.json"
SEARCHES = (("evolve", "evolve"), ("best-of-n", "best-of-n"))  # (row, strategy)
PICKS = (("train pick", "train"), ("run's best", "validation"))  # (label, the split that picks)


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def fold_task(task, folds: np.ndarray, fold: int):
    """TASK with train's FOLD held out as its test split and the rest as train."""
    examples = task.train.examples
    return dataclasses.replace(
        task,
        train=Split("train", tuple(e for e, f in zip(examples, folds) if f != fold)),
        test=Split("test", tuple(e for e, f in zip(examples, folds) if f == fold)),
    )


def picked(found: dict[str, Any], split: str) -> tuple[dict, str, str] | None:
    """The accepted skill a run yields by SPLIT's MCC: train (the bench's pick) or validation (the
    run's own best, the skill `evolve` reports)."""
    accepted = found["accepted"]
    if not accepted:
        return None
    if split == "train":
        return train_pick(accepted)
    best = found["summary"]["best"]
    return next(a for a in accepted if a[2] == best["candidate_id"])


def fold_rows(task, backend, seed: int, fold: int, iters: int, batch: int, workers: int) -> dict[str, Any]:
    """Held-out predictions and MCC of every row and pick for one fold."""
    out: dict[str, Any] = {"seed": seed, "fold": fold, "held": len(task.test)}
    started = time.perf_counter()
    code = render(global_fit(FeatureBank(task.train), seed=seed), task.name)
    preds = test_predictions(task, backend, code)
    out["global fit"] = {"held_mcc": mcc(task.test.labels, preds), "preds": preds,
                         "wall_s": round(time.perf_counter() - started, 1)}
    for row, strategy in SEARCHES:
        found = run_search(task, backend, seed, strategy, iters, batch, workers)
        for label, split in PICKS:
            pick = picked(found, split)
            name = f"{row}, {label}"
            if pick is None:
                out[name] = {"held_mcc": None, "preds": None}
                continue
            metrics, code, cid = pick
            out[name] = {"held_mcc": metrics["test"]["mcc"], "preds": test_predictions(task, backend, code),
                         "train_mcc": metrics["train"]["mcc"], "validation_mcc": metrics["validation"]["mcc"],
                         "candidate": cid, "accepted": len(found["accepted"]), "wall_s": round(found["wall_s"], 1)}
        say(f"  {row}: held MCC {out[f'{row}, train pick']['held_mcc']} (train pick), "
            f"{out[f'{row}, run' + chr(39) + 's best']['held_mcc']} (run's best), {round(found['wall_s'], 1)} s")
    return out


def stats(values: list[float | None]) -> dict[str, Any]:
    vals = [v for v in values if v is not None]
    return {"mean": round(statistics.fmean(vals), 4) if vals else None,
            "sd": round(statistics.stdev(vals), 4) if len(vals) > 1 else None,
            "values": [None if v is None else round(v, 4) for v in values]}


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
        out[name] = {"held_mcc": stats([r[name]["held_mcc"] for r in runs]), "pooled_mcc": pooled}
    for label, _ in PICKS:
        diffs = [None if r[f"evolve, {label}"]["held_mcc"] is None or r[f"best-of-n, {label}"]["held_mcc"] is None
                 else r[f"evolve, {label}"]["held_mcc"] - r[f"best-of-n, {label}"]["held_mcc"] for r in runs]
        out[f"evolve - best-of-n, {label}"] = {"held_mcc": stats(diffs)}
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
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--iters", type=int, default=25)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--sandbox", default="docker")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--show", action="store_true", help="Print the table of the stored results and exit.")
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
