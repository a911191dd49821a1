"""Benchmark: what `evolve --task file:BIG.csv` costs on the host as a table grows, phase by phase.

A synthetic table (CoLA's sentences, some shuffled, cut or padded with a word, a cue word tied to the
label, half with a number at the end so texts stay mostly distinct) is written at each size, and each
size runs in a process of its own: load the task, build the offline proposer's feature bank, the global
fit, the failure-cluster embedder's first embedding of train. Each phase: seconds and the process's peak
memory (VmHWM, reset before the phase). Side by side in the same run:

  - per phase, seconds per row at the biggest size over seconds per row at the smallest (1.0: linear);
  - the feature bank's start/end patterns found through its index of first and last words against a
    scan of every text for each pattern (what the bank did before), on the biggest table;
  - the embedder fitted on a FIT_SAMPLE sample and projected in chunks against fitted on every text
    (FIT_SAMPLE raised past the table), on the biggest table: seconds and peak memory.

Run: SKILLKILN_DATA_DIR=../shared/data .venv/bin/python bench/big_table.py [--sizes 20000 200000]
Writes bench/results/big_table.json.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SKILLKILN_DATA_DIR", str(ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "bench" / "results" / "big_table.json"
PHASES = ("load_task", "feature bank", "global fit", "embed train")
CUES = {1: ["indeed", "certainly", "yesterday", "quietly", "often"],
        0: ["the the", "was were", "him he", "a an", "himself herself"]}


def write_table(rows: int, path: Path, seed: int = 0) -> None:
    rng = random.Random(seed)
    base = []
    for name in ("in_domain_train.tsv", "in_domain_dev.tsv", "out_of_domain_dev.tsv"):
        with (Path(os.environ["SKILLKILN_DATA_DIR"]) / "cola" / name).open(encoding="utf-8", newline="") as f:
            base += [(r[3], int(r[1])) for r in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
    vocab = sorted({w for s, _ in base for w in s.split()})
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(["text", "label"])
        for _ in range(rows):
            sentence, label = rng.choice(base)
            words = sentence.split()
            r = rng.random()
            if r < 0.25 and len(words) > 2:
                rng.shuffle(words)
                label = 0 if rng.random() < 0.85 else label
            elif r < 0.40 and len(words) > 3:
                del words[rng.randrange(len(words))]
                label = 0 if rng.random() < 0.6 else label
            elif r < 0.55:
                words.insert(rng.randrange(len(words) + 1), rng.choice(vocab))
                label = 0 if rng.random() < 0.5 else label
            if rng.random() < 0.3:
                side = label if rng.random() < 0.8 else 1 - label
                words.insert(rng.randrange(len(words) + 1), rng.choice(CUES[side]))
            if rng.random() < 0.5:
                words.append(f"({rng.randrange(10 ** 6)})")
            out.writerow([" ".join(words), label])


def peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def timed(fn):
    reset_peak()
    started = time.perf_counter()
    out = fn()
    return out, {"s": round(time.perf_counter() - started, 2), "peak_mb": round(peak_mb())}


def measure(table: Path, compare: bool) -> dict:
    """One size, in this process: each phase's seconds and peak; with COMPARE, the two side-by-side checks."""
    from engine import evidence
    from engine.proposers.global_fit import global_fit
    from engine.proposers.offline import FeatureBank
    from engine.proposers.rule_skill import edge_word
    from tasks import load_task

    out: dict = {}
    task, out["load_task"] = timed(lambda: load_task(f"file:{table}"))
    bank, out["feature bank"] = timed(lambda: FeatureBank(task.train))
    _, out["global fit"] = timed(lambda: global_fit(bank, seed=0))
    texts = list(task.train.texts)
    _, out["embed train"] = timed(lambda: evidence.HashedEmbedder().embed(texts))
    out["rows"], out["train"] = len(task.train) + len(task.validation) + len(task.test), len(texts)
    if compare:
        patterns = [p for p, _ in bank._pattern_pool() if edge_word(p)]  # every one the bank tries

        def scan():  # the bank before: every text holding the word, then the regex
            return [[i for i, t in enumerate(bank.lowered) if edge_word(p) in t and re.search(p, bank.texts[i])]
                    for p in patterns]

        def indexed():
            return [[i for i in bank._edge_rows(p, edge_word(p)) if re.search(p, bank.texts[i])] for p in patterns]

        bank._edges = None  # built inside the timing
        found_indexed, indexed_t = timed(indexed)
        found_scanned, scan_t = timed(scan)
        assert found_indexed == found_scanned, "the index lost rows a scan finds"
        out["edge patterns"] = {"patterns": len(patterns), "indexed": indexed_t, "scanned": scan_t}
        if len(texts) > evidence.FIT_SAMPLE:
            evidence.FIT_SAMPLE = len(texts) + 1  # fitted on every text, as before
            _, out["embed, fit on all"] = timed(lambda: evidence.HashedEmbedder().embed(texts))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--one", help=argparse.SUPPRESS)  # TABLE:COMPARE, in a child process
    args = parser.parse_args()
    if args.one:
        table, compare = args.one.rsplit(":", 1)
        print(json.dumps(measure(Path(table), compare == "1")))
        return
    sizes = sorted(args.sizes)
    results = {}
    with tempfile.TemporaryDirectory(prefix="skillkiln-big-") as tmp:
        for size in sizes:
            table = Path(tmp) / f"t{size}.csv"
            write_table(size, table)
            print(f"{size:,} rows ...", file=sys.stderr, flush=True)
            done = subprocess.run([sys.executable, __file__, "--one", f"{table}:{int(size == sizes[-1])}"],
                                  capture_output=True, text=True, check=True)
            results[size] = json.loads(done.stdout.strip().splitlines()[-1])
    small, big = results[sizes[0]], results[sizes[-1]]
    print(f"{'phase':<16}" + "".join(f"{f'{s:,} rows':>24}" for s in sizes) + f"{'s/row ratio':>14}")
    for phase in PHASES:
        cells = "".join(f"{results[s][phase]['s']:>12.2f} s {results[s][phase]['peak_mb']:>6,} MB" for s in sizes)
        ratio = (big[phase]["s"] / big["train"]) / max(small[phase]["s"] / small["train"], 1e-9)
        print(f"{phase:<16}{cells}{ratio:>13.2f}x")
    edges = big["edge patterns"]
    print(f"\nstart/end patterns on {sizes[-1]:,} rows ({edges['patterns']} patterns): index of first and last words "
          f"{edges['indexed']['s']:.2f} s, scan of every text {edges['scanned']['s']:.2f} s: "
          f"{edges['scanned']['s'] / max(edges['indexed']['s'], 1e-9):.1f}x faster")
    if "embed, fit on all" in big:
        full, sampled = big["embed, fit on all"], big["embed train"]
        print(f"embedder on {big['train']:,} train texts: sample fit + chunks {sampled['s']:.2f} s, peak "
              f"{sampled['peak_mb']:,} MB; fit on all {full['s']:.2f} s, peak {full['peak_mb']:,} MB "
              f"({full['s'] / max(sampled['s'], 1e-9):.1f}x the time, {full['peak_mb'] / max(sampled['peak_mb'], 1):.2f}x the peak)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"sizes": sizes, "results": {str(k): v for k, v in results.items()}}, indent=1) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
