"""`skills`: browse, show and check the skills in the store."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.syntax import Syntax
from rich.table import Table

from engine.cli_common import data_option, json_option, open_store, out_console, sandbox_option, say, store_option
from engine.errors import SkillkilnError


@click.group("skills")
def skills() -> None:
    """Browse, check and reuse the skills in the store."""


@skills.command("list")
@click.option("--task", default=None, help="Only skills of this task.")
@store_option
@json_option
def skills_list(task: str | None, store_path: str | None, as_json: bool) -> None:
    """Every skill with its latest version."""
    store = open_store(store_path)
    versions = store.latest_versions(task)
    if as_json:
        click.echo(json.dumps([_version_row(v) for v in versions], indent=2))
        return
    if not versions:
        say(f"no skills in {store.path} yet: run `evolve --task cola` first")
        return
    table = Table(title=f"skills in {store.path}", title_justify="left")
    for col in ("name", "version", "task", "val MCC", "test MCC", "created", "origin"):
        table.add_column(col, justify="right" if "MCC" in col or col == "version" else "left")
    for v in versions:
        row = _version_row(v)
        table.add_row(v.name, str(v.version), v.task, _num(row["validation_mcc"]), _num(row["test_mcc"]),
                      v.created_at, row["origin"])
    out_console.print(table)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _version_row(v) -> dict[str, Any]:
    return {
        "name": v.name, "version": v.version, "task": v.task,
        "validation_mcc": v.metrics.get("validation", {}).get("mcc"),
        "test_mcc": v.metrics.get("test", {}).get("mcc"),
        "created_at": v.created_at,
        "origin": f"{v.provenance.get('proposer', '?')} run {v.provenance.get('run_id', '?')}",
    }


@skills.command("show")
@click.argument("ref")
@store_option
@json_option
def skills_show(ref: str, store_path: str | None, as_json: bool) -> None:
    """Code, metrics per split, verdict, parents and provenance of NAME[@VERSION]."""
    from dataclasses import asdict

    v = open_store(store_path).get(ref)
    if as_json:
        click.echo(json.dumps(asdict(v), indent=2))
        return
    out_console.print(f"[bold]{v.name}@{v.version}[/bold] · task {v.task} · created {v.created_at} · sha256 {v.code_sha256[:12]}")
    out_console.print(Syntax(v.code, "python", line_numbers=False))
    _print_metrics(v.metrics)
    verdict = v.verdict
    out_console.print(f"verdict: {'accepted' if verdict.get('accepted') else 'rejected'}"
                      + (f" ({', '.join(verdict.get('reasons', []))})" if verdict.get("reasons") else ""))
    for reason, detail in (verdict.get("details") or {}).items():
        out_console.print(f"  {reason}: {detail}", markup=False)
    out_console.print(f"parents: {', '.join(v.parents) or 'none'}")
    out_console.print("provenance: " + ", ".join(f"{k}={val}" for k, val in v.provenance.items()), markup=False)


def _print_metrics(metrics: dict[str, dict[str, float]]) -> None:
    table = Table()
    for col in ("split", "n", "accuracy", "majority acc.", "MCC", "balanced acc.", "F1", "p (Fisher)"):
        table.add_column(col, justify="right" if col != "split" else "left")
    for split in ("train", "validation", "test"):
        m = metrics.get(split)
        if m:
            table.add_row(split, str(m["n"]), _num(m["accuracy"]), _num(m["majority_accuracy"]), _num(m["mcc"]),
                          _num(m["balanced_accuracy"]), _num(m["f1"]), f"{m['p_value']:.2g}")
    out_console.print(table)


@skills.command("check")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--task", required=True)
@sandbox_option
@data_option
@json_option
def skills_check(file: str, task: str, sandbox: str, data_dir: str | None, as_json: bool) -> None:
    """Run a skill file through the static gate, the sandbox and the gate. Exit 0 accepted, 1 rejected."""
    from engine.evaluate import Evaluator
    from sandbox.factory import open_backend
    from tasks import load_task

    try:
        code = Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SkillkilnError(f"cannot read {file}: {exc}") from None
    loaded = load_task(task, data_dir)
    backend = open_backend(sandbox, 1, say)
    try:
        evaluation = Evaluator(loaded, backend).evaluate(code)
    finally:
        backend.close()
    verdict = evaluation.verdict
    if as_json:
        click.echo(json.dumps({**verdict.to_dict(), "stage": evaluation.stage, "sandbox": backend.name}, indent=2))
    else:
        _print_metrics({k: m.to_dict() for k, m in verdict.metrics.items()})
        if verdict.accepted:
            out_console.print("[green]accepted[/green]")
        else:
            out_console.print(f"[red]rejected[/red] at stage {evaluation.stage}: {', '.join(verdict.reasons)}")
            for reason, detail in verdict.details.items():
                out_console.print(f"  {reason}: {detail}", markup=False)
    sys.exit(0 if verdict.accepted else 1)


