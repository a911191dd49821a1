"""Benchmark: how far can a rule skill of the offline proposer's kind get on CoLA, and what does the
gate say of the ones that get furthest?

No evolution here: one global fit (engine/proposers/global_fit.py). Ridge logistic regression on
every feature of the offline proposer's bank (words, bigrams, word endings and grammar patterns mined
from train, counted as the rendered skill counts them), the K features with the largest coefficients
kept and refitted, weights rounded to the skill's integer units, the threshold the best on 5-fold
out-of-fold scores of train (selection and fit redone in each fold). The result is rendered as the
same readable skill source evolution produces, then held to the gate's size cap and memorisation
rules (sandbox/static.py's 20 kB; engine/gate.py's train-validation accuracy gap test and its
verbatim-text check), and scored on validation and, for the record, on test.

It answers one question for issue 7's target (test MCC 0.15): is that target within reach of a skill
the gate accepts? Rows vary K (how many rules; the cap holds about 700) and the ridge (a heavier one
narrows the train-validation gap the memorisation test reads). Test never picks anything here.

Skills are run in-process (their source is this script's own rendering, not untrusted code); the
sandbox gives the same outputs for the same source.

Run: SKILLKILN_DATA_DIR=../shared/data .venv/bin/python bench/ceiling.py
Writes bench/results/ceiling.json and prints a table.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SKILLKILN_DATA_DIR", str(ROOT.parent / "shared" / "data"))

from rich.console import Console
from rich.table import Table

from engine.gate import GateConfig, MemoryIndex, gap_reasons, score_labels, source_reasons
from engine.proposers.global_fit import FOLDS, global_fit
from engine.proposers.offline import REFIT_RIDGE, FeatureBank
from engine.proposers.rule_skill import render
from sandbox.static import MAX_SOURCE_BYTES
from tasks import load_task

from quality import domain_mccs  # noqa: E402 - bench/quality.py, beside this script: test's two halves

RESULTS = ROOT / "bench" / "results" / "ceiling.json"
SETTINGS = [(700, REFIT_RIDGE), (1500, REFIT_RIDGE), (3000, REFIT_RIDGE), (None, REFIT_RIDGE),
            (3000, 30.0), (3000, 100.0)]  # (K rules, None: all; ridge)


def row(task, bank: FeatureBank, memory: MemoryIndex, k: int | None, ridge: float) -> dict[str, Any]:
    started = time.perf_counter()
    genome = global_fit(bank, k, ridge, max_source=None)  # sizes past the cap are the point here
    code = render(genome, task.name)
    namespace: dict[str, Any] = {}
    exec(compile(code, "<skill>", "exec"), namespace)  # noqa: S102 - our own rendering, see the docstring
    solve = namespace["solve"]
    config = GateConfig()
    metrics, preds = {}, {}
    for split in ("train", "validation", "test"):
        data = task.split(split)
        preds[split] = [solve(t) for t in data.texts]
        metrics[split] = score_labels(task, data.labels, preds[split], config)
    gap, gap_detail = gap_reasons(metrics["train"], metrics["validation"], config)
    source, _ = source_reasons(code, memory)
    size = len(code.encode())
    return {
        "rules": len(genome.weights), "k": k, "ridge": ridge, "bytes": size,
        "within_cap": size <= MAX_SOURCE_BYTES,
        "train_mcc": metrics["train"].mcc, "validation_mcc": metrics["validation"].mcc,
        "train_accuracy": metrics["train"].accuracy, "validation_accuracy": metrics["validation"].accuracy,
        "gap_test": gap_detail["gate:gap"], "memorised_gap": bool(gap), "memorised_source": bool(source),
        "gate_would_accept": size <= MAX_SOURCE_BYTES and not gap and not source,
        "test_mcc": metrics["test"].mcc, **domain_mccs(task, preds["test"]),
        "wall_s": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    task = load_task("cola", os.environ.get("SKILLKILN_DATA_DIR"))
    bank = FeatureBank(task.train)
    memory = MemoryIndex.of_task(task, GateConfig().memorised_words)
    rows = []
    for k, ridge in SETTINGS:
        rows.append(row(task, bank, memory, k, ridge))
        print(f"K {k or 'all'} ridge {ridge}: done in {rows[-1]['wall_s']} s", file=sys.stderr, flush=True)
    table = Table(title="CoLA: one global fit of the offline proposer's rule kinds, held to the gate")
    for name in ("rules", "ridge", "bytes", "train MCC", "val MCC", "acc gap", "gate", "test MCC", "in", "out"):
        table.add_column(name, justify="right")
    for r in rows:
        why = [w for w, bad in (("over 20 kB", not r["within_cap"]), ("memorised:gap", r["memorised_gap"]),
                                ("memorised:source", r["memorised_source"])) if bad]
        table.add_row(str(r["rules"]), f"{r['ridge']:g}", f"{r['bytes']:,}", f"{r['train_mcc']:.3f}",
                      f"{r['validation_mcc']:.3f}", f"{r['train_accuracy'] - r['validation_accuracy']:+.3f}",
                      "accepts" if r["gate_would_accept"] else ", ".join(why), f"{r['test_mcc']:.3f}",
                      f"{r['test_in_mcc']:.3f}", f"{r['test_out_mcc']:.3f}")
    Console(width=140).print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"task": "cola", "features_in_bank": len(bank.candidates), "folds": FOLDS,
                                   "cap_bytes": MAX_SOURCE_BYTES, "rows": rows,
                                   "note": "test scored for the record only; nothing is picked by it"}, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
