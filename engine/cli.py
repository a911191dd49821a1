"""Command line: `evolve` runs the loop, `skills` browses and checks the store.

Bad input ends in one line on stderr and a non-zero exit, never a traceback
(set SKILLKILN_DEBUG=1 to see one for an unexpected error).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.syntax import Syntax
from rich.table import Table

from engine.config import RunConfig, default_workers
from engine.errors import SkillkilnError

err_console = Console(stderr=True)
out_console = Console()


def say(message: str) -> None:
    style = "yellow" if message.startswith("warning") else "dim"
    err_console.print(message, style=style, markup=False, highlight=False, soft_wrap=True)


def open_store(path: str | None):
    from skills_store.store import Store, default_store_path

    return Store(Path(path) if path else default_store_path())


store_option = click.option("--store", "store_path", type=click.Path(dir_okay=False), default=None,
                            help="Store file (default: $SKILLKILN_STORE or the per-user data directory).")
data_option = click.option("--data-dir", type=click.Path(file_okay=False), default=None,
                           help="Local data folder (default: $SKILLKILN_DATA_DIR, else the hub).")
sandbox_option = click.option("--sandbox", type=click.Choice(["auto", "docker", "local"]), default="auto",
                              show_default=True, help="docker, local (weaker isolation), or auto.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")


# ---------------------------------------------------------------- evolve


@click.command("evolve")
@click.option("--task", required=True, help="Task name (e.g. cola).")
@click.option("--iters", type=click.IntRange(1, 10_000), default=25, show_default=True, help="Iterations.")
@click.option("--batch", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Candidates proposed and evaluated in parallel per iteration.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--proposer", type=click.Choice(["offline"]), default="offline", show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Sandbox workers (default: CPU cores).")
@click.option("--name", default=None, help="Name to store the best skill under (default: TASK-PROPOSER).")
@sandbox_option
@store_option
@data_option
@json_option
def evolve(task: str, iters: int, batch: int, seed: int, proposer: str, workers: int | None, name: str | None,
           sandbox: str, store_path: str | None, data_dir: str | None, as_json: bool) -> None:
    """Evolve a skill for TASK: propose, sandbox, gate, store."""
    from engine.loop import Run
    from engine.proposers import make_proposer
    from engine.summary import print_summary
    from sandbox.factory import open_backend
    from tasks import load_task

    store = open_store(store_path)
    config = RunConfig(task=task, iters=iters, batch=batch, seed=seed, proposer=proposer,
                       sandbox=sandbox, workers=workers or default_workers(), store_path=store.path,
                       data_dir=Path(data_dir) if data_dir else None, name=name)
    loaded = load_task(task, data_dir)
    backend = open_backend(sandbox, config.workers, say)
    try:
        run = Run(config, loaded, backend, make_proposer(proposer, seed), store)
        say(f"run {run.run_id}: task {task}, proposer {proposer}, sandbox {getattr(backend, 'label', backend.name)}, "
            f"{iters} iterations x {batch} candidates")
        with Progress(TextColumn("[bold]evolve {task.fields[task_name]}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("accepted {task.fields[accepted]} · best val MCC {task.fields[best]}"),
                      TimeElapsedColumn(), console=err_console, transient=as_json) as bar:
            job = bar.add_task("evolve", total=iters, task_name=task, accepted=0, best="-")

            def progress(done: int, snap: dict[str, Any]) -> None:
                best = snap["best_validation_mcc"]
                bar.update(job, completed=done, accepted=snap["accepted"], best="-" if best is None else f"{best:.3f}")

            summary = run.execute(progress)
    finally:
        backend.close()
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
    else:
        print_summary(summary, out_console)


# ---------------------------------------------------------------- skills


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


# ---------------------------------------------------------------- entry points


@click.group()
def cli() -> None:
    """skillkiln: evolve small Python skills in a sandbox, gate them, keep them."""


cli.add_command(evolve)
cli.add_command(skills)


def _run(command: click.Command) -> None:
    try:
        command.main(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except SkillkilnError as exc:
        err_console.print(f"error: {exc}", style="red", markup=False, highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted: candidates evaluated so far are in the store")
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the last line of defence against a traceback
        if os.environ.get("SKILLKILN_DEBUG"):
            raise
        err_console.print(f"error: unexpected {type(exc).__name__}: {exc} (set SKILLKILN_DEBUG=1 for the traceback)",
                          style="red", markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)


def main() -> None:
    _run(cli)


def evolve_main() -> None:
    _run(evolve)


def skills_main() -> None:
    _run(skills)
