"""One self-contained HTML page per run: summary, PNG plots (inline), the best skill's code.

Plots: best and median scores per iteration, where each iteration's candidates went (accepted, or
their first reason), the lineage of the accepted skills, and the token ledger.
"""
from __future__ import annotations

import base64
import html
import io
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from engine.errors import SkillkilnError
from engine.ledger import stored_ledger
from engine.records import SEED_ITERATION, SKIPS, is_skip, split_reasons
from engine.summary import best_text, llm_rows, plural, population_line, skipped_line, stored_note
from engine.user_files import write_user_file
from tasks.metrics import p_text

TOP_REASONS = 8
METRIC_COLUMNS = {  # the best skill's table, by the task's selection metric
    "mcc": [("accuracy", "accuracy"), ("mcc", "MCC"), ("balanced_accuracy", "balanced acc."),
            ("p_value", "p (vs chance)"), ("majority_accuracy", "majority accuracy")],
    "f1": [("precision", "precision"), ("recall", "recall"), ("f1", "span F1 (exact)"),
           ("overlap_f1", "span F1 (overlap)"), ("baseline_empty_f1", "empty baseline F1"),
           ("baseline_capitalised_f1", "capitalised baseline F1"), ("p_value", "p (vs baselines)")],
}


def _cell(value: Any, name: str, floor: Any = None) -> str:
    if value is None:
        return ""
    return html.escape(p_text(value, ".2g", floor)) if name == "p_value" else f"{value:.3f}"


def metric_of(rows: list[dict[str, Any]]) -> str:
    """The selection metric of a run with no summary yet (killed, or running): a span task's metrics have f1, no mcc."""
    for row in rows:
        for metrics in row["metrics"].values():
            if isinstance(metrics, dict) and ("mcc" in metrics or "f1" in metrics):
                return "mcc" if "mcc" in metrics else "f1"
    return "mcc"


def _rows(store, run_id: str) -> list[dict[str, Any]]:
    rows = []
    for row in store.candidates(run_id):
        decoded = store.decoded(row)
        verdict = decoded["verdict"]
        rows.append({
            "id": row["id"], "iteration": row["iteration"], "accepted": bool(row["accepted"]),
            "reasons": list(decoded["reasons"]), "parents": list(decoded["parent_ids"]),
            "metrics": verdict.get("metrics") or {}, "tokens": row["prompt_tokens"] + row["completion_tokens"],
            "prompt_tokens": row["prompt_tokens"], "completion_tokens": row["completion_tokens"],
            "stage": row["stage"], "code": row["code"], "stored": bool(row["skill_version"]),
        })
    return rows


# one colour per outcome in every report: accepted green, the cascade's skips greys and blue, the gate's
# reasons from a palette with no green in it, chosen by the reason's name (not by how common it is in the run)
OUTCOME_COLOURS = {"accepted": "#1b7f3b", "duplicate": "#636363", "same_behaviour": "#a6a6a6",
                   "not_better": "#9ecae1", "other": "#dddddd"}
GATE_PALETTE = ("#d95f02", "#7570b3", "#e7298a", "#e6ab02", "#a6761d", "#1f78b4", "#b15928", "#6a3d9a", "#fb9a99")


def outcome_colour(name: str) -> str:
    import zlib

    return OUTCOME_COLOURS.get(name) or GATE_PALETTE[zlib.crc32(name.encode()) % len(GATE_PALETTE)]


def _png(fig) -> str:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    for ax in fig.axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        if ax.get_xlabel() == "iteration":  # a --reuse run's seeds sit before iteration 0: say what they are
            ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: "seeds" if x == SEED_ITERATION else f"{x:g}"))
        if ax.get_ylabel() in ("candidates", "candidates of the iteration"):
            ax.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _iterations(rows: list[dict[str, Any]]) -> list[int]:
    return sorted({r["iteration"] for r in rows})


def plot_scores(rows: list[dict[str, Any]], key: str = "mcc") -> str:
    import matplotlib.pyplot as plt

    its = _iterations(rows)
    best_so_far, best, med_train, med_val = [], float("nan"), [], []
    for it in its:
        here = [r for r in rows if r["iteration"] == it]
        accepted = [r["metrics"]["validation"][key] for r in here if r["accepted"]]
        if accepted:
            best = max(accepted) if best != best else max(best, *accepted)
        best_so_far.append(best)
        train = [r["metrics"]["train"][key] for r in here if "train" in r["metrics"]]
        val = [r["metrics"]["validation"][key] for r in here if "validation" in r["metrics"]]
        med_train.append(statistics.median(train) if train else float("nan"))
        med_val.append(statistics.median(val) if val else float("nan"))
    fig, ax = plt.subplots(figsize=(8, 3.6))
    name = key.upper()
    ax.plot(its, best_so_far, "-o", color="#1b7f3b", label=f"best accepted (validation {name})")
    ax.plot(its, med_val, "s", color="#2b6cb0", alpha=0.7, label=f"median validation {name} (reached validation)")
    ax.plot(its, med_train, "x", color="#888", label=f"median train {name} (ran on train)")
    if key == "mcc":
        ax.axhline(0, color="#c53030", lw=1, ls="--", label="majority baseline (MCC 0)")
    ax.set_xlabel("iteration")
    ax.set_ylabel(name)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    return _png(fig)


def outcomes(rows: list[dict[str, Any]]) -> tuple[list[int], dict[str, list[int]]]:
    """Per iteration, how many candidates were accepted and how many stopped at each first reason
    (the gate may give several; the report's table counts them all): the TOP_REASONS commonest, the
    rest as "other". Every candidate is counted once."""
    its = _iterations(rows)
    first = [("accepted" if r["accepted"] else (r["reasons"] or ["other"])[0], r["iteration"]) for r in rows]
    top = [r for r, _ in Counter(x for x, _ in first if x != "accepted").most_common(TOP_REASONS)]
    counts = Counter((x if x == "accepted" or x in top else "other", it) for x, it in first)
    return its, {name: [counts[name, it] for it in its] for name in ["accepted", *top, "other"]
                 if any(counts[name, it] for it in its)}


def plot_rejections(rows: list[dict[str, Any]]) -> str:
    """Each iteration's candidates as one bar: the accepted (green, at the bottom), then the rest."""
    import matplotlib.pyplot as plt

    its, bars = outcomes(rows)
    fig, ax = plt.subplots(figsize=(8, 3.6))
    bottom = [0] * len(its)
    for name, counts in bars.items():
        ax.bar(its, counts, bottom=bottom, label=name, color=outcome_colour(name))
        bottom = [b + c for b, c in zip(bottom, counts)]
    ax.set_xlabel("iteration")
    ax.set_ylabel("candidates")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _png(fig)


def plot_lineage(rows: list[dict[str, Any]], key: str = "mcc") -> str:
    """Accepted skills and their ancestors: x is the iteration, edges run parent to child."""
    import matplotlib.pyplot as plt

    by_id = {r["id"]: r for r in rows}
    keep: set[str] = set()
    stack = [r["id"] for r in rows if r["accepted"]]
    while stack:
        node = stack.pop()
        if node in keep or node not in by_id:
            continue
        keep.add(node)
        stack += by_id[node]["parents"]
    nodes = sorted(keep, key=lambda i: (by_id[i]["iteration"], i))
    lanes: dict[int, int] = Counter()
    pos = {}
    for node in nodes:
        it = by_id[node]["iteration"]
        pos[node] = (it, lanes[it])
        lanes[it] += 1
    fig, ax = plt.subplots(figsize=(8, 3.6))
    for node in nodes:
        for parent in by_id[node]["parents"]:
            if parent in pos:
                (x0, y0), (x1, y1) = pos[parent], pos[node]
                ax.plot([x0, x1], [y0, y1], color="#999", lw=0.8, zorder=1)
    for node in nodes:
        x, y = pos[node]
        r = by_id[node]
        val = r["metrics"].get("validation", {}).get(key)
        ax.scatter([x], [y], s=(110 if r["stored"] else 60) if r["accepted"] else 25, zorder=2,
                   marker="*" if r["stored"] else "o", color="#1b7f3b" if r["accepted"] else "#bbb",
                   edgecolor="k", linewidths=0.4)
        if r["accepted"] and val is not None:
            ax.annotate(f"{val:.2f}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=6)
    if not nodes:
        ax.text(0.5, 0.5, "no accepted skill in this run", ha="center", va="center", transform=ax.transAxes)
    else:  # whole numbers on both axes, even for one iteration or one lane
        xs, ys = [x for x, _ in pos.values()], [y for _, y in pos.values()]
        ax.set_xlim(min(xs) - 0.5, max(xs) + 0.5)
        ax.set_ylim(-0.5, max(ys) + 0.5)
    ax.set_xlabel("iteration")
    ax.set_ylabel("candidates of the iteration")
    ax.set_title(f"green: accepted (label: validation {key.upper()}), a star when stored as a new version; "
                 "grey: ancestors", fontsize=8)
    return _png(fig)


def plot_tokens(rows: list[dict[str, Any]]) -> str:
    import matplotlib.pyplot as plt

    its = _iterations(rows)
    prompt = completion = 0
    cum_p, cum_c = [], []
    for it in its:
        prompt += sum(r["prompt_tokens"] for r in rows if r["iteration"] == it)
        completion += sum(r["completion_tokens"] for r in rows if r["iteration"] == it)
        cum_p.append(prompt)
        cum_c.append(completion)
    fig, ax = plt.subplots(figsize=(8, 3.0))
    ax.stackplot(its, cum_p, cum_c, labels=["prompt tokens", "completion tokens"], alpha=0.8)
    if prompt + completion == 0:
        ax.text(0.5, 0.5, "0 tokens: the offline proposer calls no LLM", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_yticks([])
    ax.set_xlabel("iteration")
    ax.set_ylabel("cumulative tokens")
    ax.legend(fontsize=8, loc="upper left")
    return _png(fig)


def plot_clusters(stats: list[dict[str, Any]]) -> str:
    """Failure clusters of the elite before each iteration: how many, the largest, the average size."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.2))
    its = [s["iteration"] for s in stats]
    ax.plot(its, [s.get("errors", 0) for s in stats], "-", color="#c53030", label="misclassified train examples")
    ax.set_xlabel("iteration")
    ax.set_ylabel("examples")
    if any(s.get("errors", 0) > 0 for s in stats):  # a log axis of nothing but zeros warns on stderr
        ax.set_yscale("log")
    ax.plot(its, [s.get("largest", 0) for s in stats], "-o", ms=3, color="#2b6cb0", label="largest cluster")
    ax.plot(its, [s.get("average_size", 0) for s in stats], "-s", ms=3, color="#1b7f3b", label="average cluster size")
    twin = ax.twinx()
    twin.bar(its, [s.get("clusters", 0) for s in stats], color="#a0aec0", alpha=0.35, label="clusters")
    twin.set_ylabel("clusters")
    ax.set_zorder(twin.get_zorder() + 1)
    ax.patch.set_visible(False)
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(handles, [h.get_label() for h in handles], fontsize=7, loc="upper left", bbox_to_anchor=(1.1, 1.0))
    return _png(fig)


def cluster_table(stats: list[dict[str, Any]]) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td>{s['iteration']}</td><td>{s.get('errors', '')}</td><td>{s.get('clusters', '')}</td>"
        f"<td>{s.get('largest', '')}</td><td>{s.get('average_size', '')}</td><td>{s.get('unsolved', '')}</td>"
        f"<td>{e(', '.join((s.get('top') or [{}])[0].get('terms', [])[:5]))}</td></tr>"
        for s in stats
    )
    rule = e(stats[0].get("k_rule", "")) if stats else ""
    return ("<table><tr><th>iteration</th><th>misclassified</th><th>clusters</th><th>largest</th><th>average size</th>"
            f"<th>unsolved</th><th>largest cluster's terms</th></tr>{rows}</table><p>{rule}</p>")


def tokens_fact(summary: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """The ledger's total (every call, an answer lost to a failed call included) beside what the
    stored candidates carry; the candidates' sum alone for a run with no ledger."""
    stored = sum(r["tokens"] for r in rows)
    ledger = summary.get("ledger") or {}
    if not ledger.get("calls"):
        return f"{stored:,}"
    return f"{ledger['total']:,} in {plural(ledger['calls'], 'model call')} ({stored:,} on the stored candidates)"


def llm_facts(summary: dict[str, Any]) -> str:
    """The terminal summary's ledger, answers, replay, break-even, stop and error rows, as table rows."""
    return "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in llm_rows(summary))


def render(store, run_id: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    run = store.run(run_id)
    rows = _rows(store, run_id)
    if not rows:
        raise SkillkilnError(f"run {run_id} has no candidates yet; nothing to report")
    summary = store.run_json(run, "summary")
    if ledger := stored_ledger(store, run_id, summary):  # the summary's, or (killed before it) the calls booked
        summary = {**summary, "ledger": ledger}
    config = store.run_json(run, "config")
    best = store.run_best(run_id)  # from the stored versions when the run ended before its summary
    status = run["status"]
    if store.process(run) == "gone":
        status = f"died before it finished (`evolve --resume {run_id}` continues it)"
    elif store.process(run) == "alive":
        status = "running now (this report shows it so far)"
    elif status in ("interrupted", "failed"):  # how far it got, and how to go on
        done = max((r["iteration"] for r in rows), default=-1) + 1
        status += (f" after {done} of {config.get('iters', '?')} iterations (`evolve --resume {run_id}` "
                   "continues it)")
    best_code = next((r["code"] for r in rows if best and r["id"] == best["candidate_id"]), "")
    e = html.escape
    key = summary.get("metric") or metric_of(rows)
    columns = METRIC_COLUMNS.get(key, METRIC_COLUMNS["mcc"])
    metric_head = "".join(f"<th>{e(label)}</th>" for _, label in columns)
    metric_rows = ""
    for split in ("train", "validation", "test"):
        m = (best or {}).get("metrics", {}).get(split)
        if m:
            m = {**m, "majority_accuracy": (summary.get("majority_accuracy") or {}).get(split)}
            cells = "".join(f"<td>{_cell(m.get(name), name, m.get('p_floor'))}</td>" for name, _ in columns)
            metric_rows += f"<tr><td>{split}</td>{cells}</tr>"
    counts = Counter(x for row in rows for x in row["reasons"])
    reasons = "".join(f"<tr><td>{e(r)}</td><td>{n}</td><td>{'skipped by the cascade' if r in SKIPS else 'gate'}</td></tr>"
                      for r, n in counts.most_common())
    skips = [r for r in rows if not r["accepted"] and is_skip(r["reasons"])]
    accepted = sum(r["accepted"] for r in rows)
    plots = [("Scores per iteration", plot_scores(rows, key)), ("Where each iteration's candidates went", plot_rejections(rows)),
             ("Lineage of the accepted skills", plot_lineage(rows, key)), ("Token ledger", plot_tokens(rows))]
    stats = store.iterations(run_id)
    if stats:
        plots.insert(1, ("Failure clusters of the elite per iteration", plot_clusters(stats)))
    figures = "".join(f'<h2>{e(t)}</h2><img alt="{e(t)}" src="data:image/png;base64,{b}">' for t, b in plots)
    if stats:
        figures += "<h2>Failure clusters, iteration by iteration</h2>" + cluster_table(stats)
    lost = summary.get("sandbox_restarts") or 0
    restarts = f" · {lost} worker{'' if lost == 1 else 's'} lost and replaced" if lost else ""
    wall = (f"{summary['wall_s']} s ({summary.get('sandbox_s', '-')} s in the sandbox)" if "wall_s" in summary
            else "not recorded: the run has not finished")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>skillkiln run {e(run_id)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #1a202c; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
td, th {{ border: 1px solid #cbd5e0; padding: 0.25em 0.7em; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
pre {{ background: #f7fafc; border: 1px solid #e2e8f0; padding: 1em; overflow-x: auto; font-size: 0.8em; }}
img {{ max-width: 100%; }}
.facts td {{ text-align: left; }}
</style></head><body>
<h1>skillkiln run {e(run_id)}</h1>
<table class="facts">
<tr><td>task</td><td>{e(run['task'])}</td></tr>
<tr><td>status</td><td>{e(status)}</td></tr>
<tr><td>sandbox</td><td>{e(str(summary.get('sandbox_label', run['sandbox'])))}{e(restarts)}</td></tr>
<tr><td>proposer</td><td>{e(str(summary.get('proposer', config.get('proposer', ''))))} {e(str(summary.get('model', '')))}</td></tr>
<tr><td>candidates</td><td>{len(rows)} proposed: {accepted} accepted{e(stored_note(accepted, sum(r['stored'] for r in rows)))},
 {len(rows) - accepted - len(skips)} rejected by the gate, {len(skips)} skipped;
 {summary.get('parse_failures', 0)} unparseable at the gate (syntax, no solve)</td></tr>
<tr><td>skipped</td><td>{e(skipped_line(split_reasons(counts)[1]) or 'none')}</td></tr>
<tr><td>population</td><td>{e(population_line(summary.get('population')) or 'not recorded')}</td></tr>
<tr><td>tokens</td><td>{tokens_fact(summary, rows)}</td></tr>
{llm_facts(summary)}
<tr><td>best skill</td><td>{e(best_text(best))}</td></tr>
<tr><td>made by</td><td>{e((best or {}).get('note') or '-')}</td></tr>
<tr><td>wall time</td><td>{wall}</td></tr>
</table>
<h2>Best skill against {'the trivial span baselines' if key == 'f1' else 'the majority baseline'}</h2>
<table><tr><th>split</th>{metric_head}</tr>{metric_rows or '<tr><td colspan={len(columns) + 1}>no accepted skill</td></tr>'}</table>
<p>{e(summary.get('test_note', ''))}</p>
{figures}
<h2>Rejections and skips</h2><p>Candidates with each reason. A candidate the gate rejects may fail several of its
checks, so the gate's rows can add up to more than the candidates it rejected; a skip has exactly one reason.</p>
<table><tr><th>reason</th><th>candidates</th><th>by</th></tr>{reasons}</table>
<h2>Best skill's code</h2><pre>{e(best_code) or 'none'}</pre>
</body></html>
"""


def write_report(store, run_id: str, path: Path) -> Path:
    """Write RUN's report to PATH (engine/user_files.py: whole or not at all, through a symlink, into a device
    or pipe as a stream; renaming over those replaced them)."""
    write_user_file(path, render(store, run_id), f"cannot write the report to {path}")
    return path


def default_report_path(store, run_id: str) -> Path:
    return Path(store.path).parent / "reports" / f"{run_id}.html"
