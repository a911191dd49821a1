"""Benchmark: how much sandbox time the gate's cascade saves, and what it costs in false
early rejections.

1. Generate the candidates once: a 25-iteration CoLA run of the offline proposer (the real
   loop, Docker sandbox, a throwaway store), then take the code of every candidate the loop
   sent to the evaluator (duplicates never reach it).
2. Evaluate that same list twice, cascade on and off, interleaved candidate by candidate (the
   order alternates) so load on the machine hits both alike. Sandbox seconds are the time
   spent in sandbox requests (Evaluation.sandbox_s). With the cascade on, as in the loop, a
   candidate whose outputs on all of train equal those of one of an earlier iteration stops after
   train (same_behaviour; until the thirteenth session the train subset alone decided, and
   stopped candidates that differed); the bench counts those twins, checks with the cascade off
   that none differs from its twin on train, and whether one would have been the run's best. Also as in
   the loop, the cascade gets the offline proposer's expected train outputs (recomputed here from
   each candidate's rules with the proposer's own feature bank): checked on the train subset, they
   let validation run before the rest of train, and a candidate it rejects stops there, as does
   one it passes whose validation MCC is not above the best of the candidates accepted (cascade
   on) in earlier iterations (not_better: it could not become the run's best or a stored version).
   The bench checks that claim: the versions a run would store (accepted, validation MCC above
   every earlier accepted one) and its best skill are the same candidates with the cascade on and off.
3. False early rejections, observed: candidates the cascade stopped at the train subset that
   passed the full train stage with the cascade off; and any candidate rejected only with the
   cascade, other than a same_behaviour skip.
4. False early rejections, estimated: for every candidate with full-train outputs, the subset
   rule applied to many other random stratified subsets of the same size; the share of
   subsets on which it would stop a candidate that passes the full train stage.
5. For contrast, the gate corpus (trivial and cheating skills plus honest ones, tests/gate_corpus)
   through both modes: the stream an LLM proposer produces looks more like this.

Run: SKILLKILN_DATA_DIR=../shared/data .venv/bin/python bench/gate.py [--iters 25] [--seed 0]
Writes bench/results/gate.json. With --transcript FILE the candidates come from a replayed LLM run
instead (tests/llm/transcripts/cola_small.jsonl is a scripted one, not a real model's), written to
bench/results/gate_replay.json.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SKILLKILN_DATA_DIR", str(ROOT.parent / "shared" / "data"))

from engine import gate  # noqa: E402
from engine.config import RunConfig  # noqa: E402
from engine.evaluate import Evaluation, Evaluator  # noqa: E402
from engine.loop import Run, best_before  # noqa: E402
from engine.proposers import make_proposer  # noqa: E402
from engine.proposers.offline import FeatureBank, expected_train_outputs  # noqa: E402
from engine.records import ExecResult  # noqa: E402
from sandbox.factory import open_backend  # noqa: E402
from skills_store.store import Store  # noqa: E402
from tasks import load_task  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "gate.json"
PASSED_TRAIN = ("validation", "test")  # stages reached only by candidates that passed the full train stage


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_config(task, iters: int, transcript: str | None = None, **more) -> RunConfig:
    """The run's config: the offline proposer's, or (TRANSCRIPT) a replayed LLM run's, one candidate
    per iteration as evolve runs an LLM proposer."""
    if transcript:
        more.update(proposer="replay", transcript=transcript, batch=1)
    return RunConfig(task=task.name, iters=iters, **more)


def generate(task, backend, iters: int, seed: int, workers: int,
             transcript: str | None = None) -> tuple[list[tuple[int, str]], dict[str, Any]]:
    """(iteration, code) of every candidate the loop sent to the evaluator, in order: the offline
    proposer's, or (TRANSCRIPT) those of a replayed LLM run."""
    with tempfile.TemporaryDirectory(prefix="skillkiln-bench-") as tmp:
        store = Store(Path(tmp) / "store.sqlite")
        config = run_config(task, iters, transcript, seed=seed, sandbox=backend.name, workers=workers,
                            store_path=Path(tmp) / "store.sqlite")
        proposer = config.proposer
        run = Run(config, task, backend, make_proposer(proposer, seed, config), store)
        started = time.perf_counter()
        summary = run.execute()
        rows = store.candidates(run.run_id)
        codes = [(r["iteration"], r["code"]) for r in rows if json.loads(r["reasons"]) != ["duplicate"]]
        store.close()
    info = {"run_wall_s": round(time.perf_counter() - started, 2), "proposed": len(rows), "evaluated": len(codes),
            "accepted_in_run": summary.get("accepted_count")}
    return codes, info


def expected_outputs(task, codes: list[tuple[int, str]]) -> list[tuple[Any, ...] | None]:
    """What the offline proposer hands in with each candidate (Proposal.expected_train): its own
    computation of the skill's train outputs; None for code that is not one of its rule skills."""
    bank = FeatureBank(task.train)
    return [expected_train_outputs(code, bank) for _, code in codes]


def evaluate_both(items: list[tuple[int, str]], on: Evaluator, off: Evaluator,
                  expected: list[tuple[Any, ...] | None] | None = None) -> list[dict[str, Any]]:
    """Each candidate both ways. With the cascade on, as in the loop, a candidate whose outputs on all
    of train equal those of a candidate from an earlier iteration stops after train (same_behaviour), and
    the proposer's expected train outputs (EXPECTED) are handed in; with it off, never."""
    rows = []
    behaviours: dict[str, tuple[int, int]] = {}  # signature -> (iteration, row index)
    accepted_on: list[tuple[int, float]] = []  # (iteration, validation MCC) accepted with the cascade on
    for k, (iteration, code) in enumerate(items):
        first, second = (on, off) if k % 2 == 0 else (off, on)
        known = {sig: str(j) for sig, (it, j) in behaviours.items() if it < iteration}
        bar = best_before(accepted_on, iteration)  # as Run.bar
        results: dict[bool, Evaluation] = {}
        for evaluator in (first, second):
            if evaluator.cascade:
                results[True] = evaluator.evaluate(code, behaviours=known, expected_train=expected and expected[k],
                                                   bar=bar)
            else:
                results[False] = evaluator.evaluate(code)
        a, b = results[True], results[False]
        if a.verdict.accepted:
            accepted_on.append((iteration, _metric(a, "validation")))
        if a.behaviour and (a.train_predictions is not None or a.expected_train is not None):
            behaviours.setdefault(a.behaviour, (iteration, k))
        twin = int(known[a.behaviour]) if a.verdict.reasons == ("same_behaviour",) else None
        rows.append({
            "twin": twin,
            "on": {"stage": a.stage, "accepted": a.verdict.accepted, "reasons": list(a.verdict.reasons),
                   "validation": _metric(a, "validation"),
                   "sandbox_s": a.sandbox_s, "stage_s": a.stage_s, "texts": a.texts,
                   "rest_of_train_skipped": a.expected_train is not None},
            "off": {"stage": b.stage, "accepted": b.verdict.accepted, "reasons": list(b.verdict.reasons),
                    "sandbox_s": b.sandbox_s, "stage_s": b.stage_s, "texts": b.texts,
                    "train": _metric(b, "train"), "validation": _metric(b, "validation")},
            "off_train": b.results.get("train"),
        })
    return rows


def _metric(evaluation: Evaluation, split: str) -> float | None:
    m = evaluation.verdict.metrics.get(split)
    return None if m is None else m.to_dict()["mcc"]


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    on_s = sum(r["on"]["sandbox_s"] for r in rows)
    off_s = sum(r["off"]["sandbox_s"] for r in rows)
    on_texts = sum(r["on"]["texts"] for r in rows)
    off_texts = sum(r["off"]["texts"] for r in rows)
    early = [r for r in rows if r["on"]["stage"] == "train_subset"]
    twins = [r for r in rows if r["twin"] is not None]  # stopped after train (all of it) as same_behaviour
    false_early = [r for r in early if r["twin"] is None and r["off"]["stage"] in PASSED_TRAIN]
    not_better = [r for r in rows if r["on"]["reasons"] == ["not_better"]]
    # any verdict the cascade changes, other than a same_behaviour or not_better stop
    lost = [r for r in rows if r["twin"] is None and r["on"]["reasons"] != ["not_better"]
            and r["off"]["accepted"] and not r["on"]["accepted"]]
    gained = [r for r in rows if r["on"]["accepted"] and not r["off"]["accepted"]]
    differs, gains, better_best = 0, [], False
    best_off = max((r["off"]["validation"] for r in rows if r["off"]["accepted"]), default=None)
    for r in twins:
        twin = rows[r["twin"]]
        mine, theirs = r["off_train"], twin["off_train"]
        if mine is not None and theirs is not None and mine.predictions != theirs.predictions:
            differs += 1
        if r["off"]["train"] is not None and twin["off"]["train"] is not None:
            gains.append(r["off"]["train"] - twin["off"]["train"])
        if r["off"]["accepted"] and best_off is not None and r["off"]["validation"] == best_off:
            better_best = True
    return {
        "candidates": len(rows),
        "sandbox_s_cascade_on": round(on_s, 3),
        "sandbox_s_cascade_off": round(off_s, 3),
        "saving": round(1 - on_s / off_s, 4) if off_s else 0.0,
        "texts_cascade_on": on_texts,
        "texts_cascade_off": off_texts,
        "saving_in_texts": round(1 - on_texts / off_texts, 4) if off_texts else 0.0,
        "stopped_at_train_subset": len(early),
        "stopped_at_validation_before_the_rest_of_train": sum(r["on"]["rest_of_train_skipped"] for r in rows),
        "same_behaviour_skips": len(twins),
        "same_behaviour_but_different_on_full_train": differs,
        "same_behaviour_train_mcc_gain_over_twin_max": round(max(gains), 4) if gains else None,
        "same_behaviour_skipped_the_best_skill": better_best,
        "stopped_not_better": len(not_better),
        "not_better_accepted_with_the_cascade_off": sum(r["off"]["accepted"] for r in not_better),
        "versions_on": versions(rows, "on"),
        "versions_off": versions(rows, "off"),
        "versions_agree": versions(rows, "on") == versions(rows, "off"),
        "false_early_rejections": len(false_early),
        "rejected_only_with_the_cascade": len(lost),
        "accepted_only_with_the_cascade": len(gained),
        "verdicts_agree": sum(r["on"]["accepted"] == r["off"]["accepted"] for r in rows),
        "reasons_off": _count(x for r in rows for x in r["off"]["reasons"]),
        "accepted": sum(r["on"]["accepted"] for r in rows),
        "stages_on": _count(r["on"]["stage"] for r in rows),
        "stages_off": _count(r["off"]["stage"] for r in rows),
        "sandbox_s_by_stage_on": _stage_sum(r["on"]["stage_s"] for r in rows),
        "sandbox_s_by_stage_off": _stage_sum(r["off"]["stage_s"] for r in rows),
    }


def versions(rows: list[dict[str, Any]], mode: str) -> list[int]:
    """The candidates (row indices) a run would store as versions, in order: accepted, with a validation
    MCC above every earlier accepted one (the last is the run's best skill)."""
    out, best = [], None
    for k, r in enumerate(rows):
        if r[mode]["accepted"] and (best is None or r[mode]["validation"] > best):
            out.append(k)
            best = r[mode]["validation"]
    return out


def _count(items) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return out


def _stage_sum(stage_maps) -> dict[str, float]:
    out: dict[str, float] = {}
    for stages in stage_maps:
        for stage, seconds in stages.items():
            out[stage] = round(out.get(stage, 0.0) + seconds, 3)
    return out


def simulate(task, rows: list[dict[str, Any]], config: gate.GateConfig, draws: int) -> dict[str, Any]:
    """The subset rule on `draws` random stratified subsets per candidate, host-side."""
    labels = task.train.labels
    subsets = [gate.stratified_subset(labels, config.subset_size, seed=1000 + d) for d in range(draws)]
    passing, failing = [], []
    for row in rows:
        train: ExecResult | None = row["off_train"]
        if train is None or train.predictions is None:
            continue
        stops = 0
        for idx in subsets:
            part = ExecResult(
                predictions=tuple(train.predictions[i] for i in idx),
                per_example_errors={j: train.per_example_errors[i] for j, i in enumerate(idx) if i in train.per_example_errors},
            )
            stops += bool(gate.subset_reasons(task, idx, part, config)[0])
        passed = row["off"]["stage"] in PASSED_TRAIN
        (passing if passed else failing).append(stops / draws)
    mean = lambda xs: round(sum(xs) / len(xs), 5) if xs else None  # noqa: E731
    return {
        "draws_per_candidate": draws,
        "candidates_passing_full_train": len(passing),
        "false_early_rejection_rate": mean(passing),
        "worst_candidate_false_early_rejection_rate": round(max(passing), 5) if passing else None,
        "candidates_failing_full_train": len(failing),
        "early_stop_rate_of_failing": mean(failing),
    }


def at_the_floor(task, config: gate.GateConfig, draws: int) -> dict[str, Any]:
    """Worst case: synthetic candidates whose full-train balanced accuracy sits exactly at the
    floor (or whose top label share sits exactly at the limit). The share of random subsets on
    which the rule stops them is the false early rejection rate at the boundary (<= beta)."""
    import random

    labels = task.train.labels
    n = len(labels)
    floor = gate.floors(task, config)["balanced_accuracy"]
    rng = random.Random(11)
    out: dict[str, Any] = {}
    for name, recall_0 in (("balanced_accuracy_at_floor_recall0_0.10", 0.10),
                           ("balanced_accuracy_at_floor_recall0_0.50", 0.50),
                           ("balanced_accuracy_at_floor_recall0_0.90", 0.90)):
        recall_1 = 2 * floor - recall_0
        by_label = {0: [i for i in range(n) if labels[i] == 0], 1: [i for i in range(n) if labels[i] == 1]}
        preds = [0] * n
        for y, recall in ((0, recall_0), (1, recall_1)):
            idx = list(by_label[y])
            rng.shuffle(idx)
            right = set(idx[: round(recall * len(idx))])
            for i in idx:
                preds[i] = y if i in right else 1 - y
        out[name] = _stop_rate(task, preds, config, draws)
    # top label share exactly at the limit, outputs otherwise informative
    preds = [1] * n
    zeros = [i for i in range(n) if labels[i] == 0]
    rng.shuffle(zeros)
    for i in zeros[: round((1 - config.max_label_share) * n)]:
        preds[i] = 0
    out["top_label_share_at_limit"] = _stop_rate(task, preds, config, draws)
    return out


def _stop_rate(task, preds: list[int], config: gate.GateConfig, draws: int) -> float:
    stops = 0
    for d in range(draws):
        idx = gate.stratified_subset(task.train.labels, config.subset_size, seed=5000 + d)
        stops += bool(gate.subset_reasons(task, idx, ExecResult(predictions=tuple(preds[i] for i in idx)), config)[0])
    return round(stops / draws, 4)


def load_corpus(task) -> list[str]:
    path = ROOT / "tests" / "gate_corpus" / "_corpus.py"
    spec = importlib.util.spec_from_file_location("gate_corpus_loader", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return [case.code for case in module.load(task)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--no-corpus", action="store_true")
    parser.add_argument("--transcript", help="take the candidates from this replayed LLM run (evolve --record) "
                        "instead of the offline proposer; writes bench/results/gate_replay.json")
    args = parser.parse_args()
    results = RESULTS.with_name("gate_replay.json") if args.transcript else RESULTS

    task = load_task("cola")
    backend = open_backend("docker", args.workers, say)
    try:
        say(f"generating candidates: {'replay of ' + args.transcript if args.transcript else 'offline proposer'}, "
            f"{args.iters} iterations, seed {args.seed}, sandbox {backend.name}")
        codes, run_info = generate(task, backend, args.iters, args.seed, args.workers, args.transcript)
        # the run's candidates are judged as evolve judges them: validation alpha over its budget
        config = run_config(task, args.iters, args.transcript).run_gate()
        on = Evaluator(task, backend, config, cascade=True)
        off = Evaluator(task, backend, config, cascade=False)
        say(f"evaluating {len(codes)} candidates with the cascade on and off (interleaved)")
        rows = evaluate_both(codes, on, off, expected_outputs(task, codes))
        offline = totals(rows)
        offline["simulated"] = simulate(task, rows, config, args.draws)
        offline["simulated"]["at_the_boundary"] = at_the_floor(task, config, 2000)
        corpus = None
        if not args.no_corpus:
            corpus_codes = load_corpus(task)
            say(f"evaluating the gate corpus ({len(corpus_codes)} skills) both ways")
            alone = gate.GateConfig()  # each corpus skill on its own, as `skills check` judges it
            corpus = totals(evaluate_both([(0, c) for c in corpus_codes], Evaluator(task, backend, alone, cascade=True),
                                          Evaluator(task, backend, alone, cascade=False)))
    finally:
        backend.close()

    report = {
        "task": "cola",
        "proposer": "replay" if args.transcript else "offline",
        "transcript": args.transcript and Path(args.transcript).name,
        "iterations": args.iters,
        "seed": args.seed,
        "sandbox": backend.name,
        "run": run_info,
        "gate": {"subset_size": config.subset_size, "cascade_beta": config.cascade_beta,
                 "validation_alpha_offline_run": gate.split_alpha(task, "validation", config)},
        "offline_run": offline,
        "gate_corpus": corpus,
        "note": "sandbox_s: seconds in sandbox requests; saving = 1 - on/off over the same candidates "
                "(seconds are noisy on a shared machine; texts run are exact). "
                "False early rejections: stopped at the train subset, yet passed the full train stage with the cascade off. "
                "verdicts_agree: accepted both ways or neither; a not_better or same_behaviour stop is not accepted "
                "with the cascade on by design, and versions_agree checks that no such stop changed what a run keeps.",
    }
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(report, indent=2) + "\n")

    print(f"{report['proposer']} run: {run_info['proposed']} proposed, {run_info['evaluated']} evaluated (duplicates never reach the sandbox)")
    for label, t in ((f"{report['proposer']} candidates", offline), ("gate corpus", corpus)):
        if t is None:
            continue
        print(f"{label}: sandbox {t['sandbox_s_cascade_off']:.2f} s without the cascade, "
              f"{t['sandbox_s_cascade_on']:.2f} s with it: saving {t['saving']:.1%} "
              f"({t['saving_in_texts']:.1%} of the texts run); "
              f"stopped at the train subset {t['stopped_at_train_subset']} of {t['candidates']}, "
              f"after train as same_behaviour {t['same_behaviour_skips']} ({t['same_behaviour_but_different_on_full_train']} "
              f"of them different from their twin on train), stopped at validation before the rest of train "
              f"{t['stopped_at_validation_before_the_rest_of_train']} (of them not above the best: "
              f"{t['stopped_not_better']}; versions and best skill the same both ways: {t['versions_agree']}), "
              f"false early rejections {t['false_early_rejections']}, rejected only with the cascade "
              f"{t['rejected_only_with_the_cascade']} (not as same_behaviour), accepted only with it "
              f"{t['accepted_only_with_the_cascade']}; verdicts agree {t['verdicts_agree']}/{t['candidates']}")
        print(f"  stages reached, cascade on: {t['stages_on']}; sandbox s by stage, on: {t['sandbox_s_by_stage_on']}, "
              f"off: {t['sandbox_s_by_stage_off']}")
    sim = offline["simulated"]
    print(f"simulated false early rejection rate (offline candidates passing full train, {sim['draws_per_candidate']} "
          f"random subsets each): {sim['false_early_rejection_rate']} (worst candidate {sim['worst_candidate_false_early_rejection_rate']})")
    print("at the boundary (synthetic, 2000 random subsets each): "
          + ", ".join(f"{k} {v:.2%}" for k, v in sim["at_the_boundary"].items()))
    print(f"wrote {results.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
