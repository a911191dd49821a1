"""The end-of-run summary as a rich table (people) or one JSON object (scripts)."""
from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

SPLITS = ("train", "validation", "test")


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_summary(summary: dict[str, Any], console: Console) -> None:
    best = summary.get("best")
    scores = Table(title=f"skillkiln run {summary['run_id']} · task {summary['task']}", title_justify="left")
    scores.add_column("split")
    scores.add_column("best skill accuracy", justify="right")
    scores.add_column("best skill MCC", justify="right")
    scores.add_column("majority accuracy", justify="right")
    scores.add_column("majority MCC", justify="right")
    for split in SPLITS:
        m = (best or {}).get("metrics", {}).get(split, {})
        scores.add_row(split, _fmt(m.get("accuracy")), _fmt(m.get("mcc")),
                       _fmt(summary["majority_accuracy"][split]), "0.000")
    console.print(scores)

    facts = Table(show_header=False, box=None, pad_edge=False)
    facts.add_column(style="bold")
    facts.add_column()
    if best:
        version = f"@{best['version']}" if best.get("version") else " (not stored: the stored version is better)"
        facts.add_row("best skill", f"{best['name']}{version}  (candidate {best['candidate_id']})")
    else:
        facts.add_row("best skill", "[red]none accepted[/red]: every candidate was rejected (reasons below)")
    facts.add_row("candidates", f"{summary['candidates']} proposed, {summary['accepted_count']} accepted, "
                                f"{summary['parse_failures']} parse failures")
    rejections = ", ".join(f"{r} {n}" for r, n in summary["rejections"].items()) or "none"
    facts.add_row("rejections", rejections)
    sandbox = summary["sandbox_label"]
    facts.add_row("sandbox", sandbox if summary["sandbox"] == "docker" else f"[yellow]{sandbox}[/yellow]")
    tokens = summary["tokens"]
    facts.add_row("tokens", f"{tokens['total']} ({tokens['prompt']} prompt, {tokens['completion']} completion)"
                            f" · proposer {summary['proposer']} {summary['model']}")
    facts.add_row("wall time", f"{summary['wall_s']:.1f} s ({summary['sandbox_s']:.1f} s in the sandbox)")
    facts.add_row("store", summary["store"])
    if summary.get("report"):
        facts.add_row("report", summary["report"])
    facts.add_row("note", summary["test_note"])
    console.print(facts)
