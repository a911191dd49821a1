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
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from engine.cli_common import (
    data_option, err_console, json_option, open_store, out_console, sandbox_option, say, store_option,
)
from engine.cli_skills import skills
from engine.config import RunConfig, default_workers
from engine.errors import SkillkilnError

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
