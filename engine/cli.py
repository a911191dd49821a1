"""Command line: `evolve` runs the loop, `skills` browses and checks the store.

Bad input ends in one line on stderr and a non-zero exit, never a traceback
(set SKILLKILN_DEBUG=1 to see one for an unexpected error).
"""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from engine.cli_common import (
    CLOSED_OUTPUT, JSON_WANTED, FiniteFloat, column_options, data_option, dataset_option, echo_json_error, err_console, json_option, open_store,
    options_given, out_console, sandbox_option, say, say_notes, store_option,
)
from engine.cli_skills import skills
from engine.config import RunConfig, default_workers
from engine.errors import SkillFailed, SkillkilnError

# ---------------------------------------------------------------- evolve

INTERRUPTED: list[str] = []  # set by evolve on Ctrl-C: the run's id, then where its report went

# what `evolve --resume RUN` still reads from its command line; every other setting is the run's own
RESUME_READS = {"resume_id", "store_path", "data_dir", "text_col", "label_col", "as_json"}
RESUME_FIELDS = {"llm_timeout": "llm_timeout_s"}  # an option whose RunConfig field has another name
# how the run reaches its model and what it may spend, not what it proposes: given with --resume, they replace
# the run's own (a server that moved, a timeout too short, a cap reached), and the run keeps them
RESUME_SETS = {"ollama_host", "llm_timeout", "llm_retries", "max_cost_usd"}


def llm_options(command):
    """The LLM proposer options of `evolve` (engine/proposers/llm.py); they arrive as **llm."""
    options = [
        click.option("--model", default=None, help="The model of --proposer ollama|anthropic "
                     "(default qwen2.5-coder:32b / claude-opus-5-5)."),
        click.option("--creator", default=None, metavar="PROVIDER:MODEL",
                     help="The model that writes skills, e.g. anthropic:claude-opus-5-5 (implies its --proposer)."),
        click.option("--repairer", default=None, metavar="PROVIDER:MODEL",
                     help="The model of the one repair round after a parse failure, e.g. ollama:llama3.2:3b "
                          "(default: the creator)."),
        click.option("--strategy", type=click.Choice(["evolve", "best-of-n"]), default="evolve", show_default=True,
                     help="best-of-n: the same budget on independent samples, no parents, no feedback (an LLM's "
                          "first prompt again and again; the offline proposer's random restarts after its global fit): "
                          "the control bench/quality.py runs against evolve."),
        click.option("--ollama-host", default=None, metavar="URL",
                     help="Ollama server (default $OLLAMA_HOST, else http://127.0.0.1:11434)."),
        click.option("--transcript", type=click.Path(dir_okay=False), default=None,
                     help="JSONL transcript to replay (--proposer replay)."),
        click.option("--record", type=click.Path(dir_okay=False), default=None,
                     help="Write a JSONL transcript of every model call (replay it with --proposer replay)."),
        click.option("--max-cost-usd", type=FiniteFloat(0, min_open=True), default=None,
                     help="A cap on the model calls' cost: the run stops cleanly before a call that could cross it "
                          "(its prompt estimated at 4 characters a token, its answer at the most tokens it may "
                          "return; prices: engine/prices.py)."),
        click.option("--baseline-tokens-per-example", type=FiniteFloat(0, min_open=True), default=None,
                     help="Tokens a direct LLM call spends per example, for the break-even line "
                          "(default: the store's latest `skillkiln baseline` for the task)."),
        click.option("--llm-timeout", type=FiniteFloat(0.1), default=300.0, show_default=True,
                     help="Seconds the model's server may stay silent (connecting, or between two reads of its "
                          "answer); a server that keeps sending is not cut off."),
        click.option("--llm-retries", type=click.IntRange(0, 10), default=3, show_default=True,
                     help="Retries of a model call on 429, 5xx and timeouts, with exponential back-off."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.command("evolve")
@click.option("--task", default=None, help="Task name (e.g. cola).")
@click.option("--iters", type=click.IntRange(1, 10_000), default=25, show_default=True, help="Iterations.")
@click.option("--batch", type=click.IntRange(1, 64), default=None,
              help="Candidates proposed and evaluated in parallel per iteration (default: 4 offline, 1 with an LLM).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--proposer", type=click.Choice(["offline", "ollama", "anthropic", "replay"]), default=None,
              help="offline (default; no LLM), ollama, anthropic, or replay (a recorded --transcript).")
@llm_options
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Sandbox workers (default: CPU cores).")
@click.option("--name", default=None, help="Name to store the best skill under (default: TASK-PROPOSER).")
@click.option("--reuse", multiple=True, metavar="NAME[@V]",
              help="Seed the population with a stored skill (re-scored first). Repeatable.")
@click.option("--embedder", default="offline", show_default=True, metavar="offline|ollama[:MODEL]",
              help="How failure clusters embed texts: offline hashed n-grams, or Ollama embeddings "
                   "(default model nomic-embed-text; host from --ollama-host or OLLAMA_HOST).")
@click.option("--library", "libraries", multiple=True, metavar="NAME[@V]",
              help="A stored skill candidates may call (`from skills import NAME`); the exact version is "
                   "recorded as a dependency of every accepted skill that imports it. Repeatable.")
@click.option("--score-all", is_flag=True,
              help="Run every stage for every candidate the gate passes, even one whose validation score cannot "
                   "beat the run's best (by default it stops after validation, when the proposer's expected "
                   "train outputs let validation run first).")
@click.option("--resume", "resume_id", default=None, metavar="RUN",
              help="Continue a stopped run from its last stored iteration, with its own config.")
@click.option("--list-tasks", is_flag=True, help="List the registered tasks and exit.")
@column_options
@sandbox_option
@store_option
@data_option
@dataset_option
@json_option
def evolve(task: str | None, iters: int, batch: int, seed: int, proposer: str, workers: int | None,
           name: str | None, embedder: str, reuse: tuple[str, ...], libraries: tuple[str, ...],
           score_all: bool, resume_id: str | None,
           list_tasks: bool, text_col: str, label_col: str, sandbox: str, store_path: str | None,
           data_dir: str | None, dataset: str | None, as_json: bool, **llm: Any) -> None:
    """Evolve a skill for TASK (a registered name, file:PATH or hf:NAME): propose, sandbox, gate, store."""
    if list_tasks:
        print_tasks(as_json)
        return
    from engine.libraries import resolve as resolve_libraries
    from engine.loop import Run
    from engine.proposers import make_proposer
    from engine.summary import plural, print_summary
    from sandbox.factory import open_backend
    from skills_store import owner
    from tasks import canonical_task, load_task, resolve_data_dir, task_spec

    if not resume_id:  # input that is wrong on its face is refused before the store is made (or opened)
        if not task:
            raise click.UsageError("--task is required (or --resume RUN)")
        proposer, llm_fields = llm_settings(proposer, llm, embedder)
        task = canonical_task(task)
        task_spec(task)  # an unknown task
        data_dir = resolve_data_dir(data_dir)  # a --data-dir (or $SKILLKILN_DATA_DIR) that is no folder says so;
        # the run records the folder it read, wherever it was named, so a resume reads it again without the variable
    store = open_store(store_path, writer=True, create=not resume_id)  # --resume reads a store that exists
    settings: dict[str, Any] = {}  # --resume: the run's settings its command line replaces
    if resume_id:
        row = store.run(resume_id)
        if row["status"] == "finished":
            raise SkillkilnError(f"run {resume_id} already finished; nothing to resume")
        busy = store.claim_run(resume_id)  # two processes writing one run would propose every slot twice
        if busy is not None:
            raise SkillkilnError(f"run {resume_id} is still running (pid {busy}); stop it first, or wait for it")
        if row["status"] == "running" and (where := owner.other_host(row["owner"])):
            say(f"warning: run {resume_id} is marked running by a process on host {where}, which cannot be checked "
                "from here: if it still runs there, stop it (two processes would write one run)")
        config = replace(RunConfig.from_dict(store.run_json(row, "config")), store_path=store.path)
        ctx = click.get_current_context()  # an option the run already has (--sandbox docker of a Docker run) is no news
        changed = [(key, flag) for key, flag in options_given(ctx, keep=RESUME_READS)
                   if ctx.params[key] != getattr(config, RESUME_FIELDS.get(key, key), None)]
        ignored = [flag for key, flag in changed if key not in RESUME_SETS]
        if ignored:
            say(f"warning: --resume continues run {resume_id} with its own settings; ignoring {', '.join(ignored)}")
        settings = {RESUME_FIELDS.get(key, key): ctx.params[key] for key, _ in changed if key in RESUME_SETS}
        if settings:
            before = {key: getattr(config, RESUME_FIELDS.get(key, key)) for key in RESUME_SETS}
            was = ", ".join(f"{flag} {ctx.params[key]} (was {'unset' if before[key] is None else before[key]})"
                            for key, flag in changed if key in RESUME_SETS)
            say(f"note: run {resume_id} goes on with {was}")
            config = replace(config, **settings)
        if config.record:  # a transcript holds one uninterrupted run: its first part stays as it was
            say(f"warning: not recording the resumed part of run {resume_id} (its transcript {config.record} is kept)")
            config = replace(config, record=None)
        data_dir = data_dir or (str(config.data_dir) if config.data_dir else None)
        given = click.get_current_context().get_parameter_source
        default = click.core.ParameterSource.DEFAULT
        config = replace(config, text_col=text_col if given("text_col") != default else config.text_col,
                         label_col=label_col if given("label_col") != default else config.label_col)
    else:
        config = RunConfig(task=task, iters=iters, batch=batch or (4 if proposer == "offline" else 1), seed=seed,
                           proposer=proposer, sandbox=sandbox, workers=workers or default_workers(),
                           store_path=store.path, data_dir=data_dir, name=name,
                           dataset=dataset, embedder=embedder, score_all=score_all, text_col=text_col,
                           label_col=label_col, **llm_fields)
        config = settle_name(store, config)
    reused_versions = list({(v.name, v.version): v for v in (reused(store, ref, config.task) for ref in reuse)}.values())
    seeds = [(f"{v.name}@{v.version}", v.code) for v in reused_versions]
    if not resume_id:  # exact versions, fixed for the run (a resumed run injects the same code)
        wanted = list(libraries) + [f"{d}@{ver}" for v in reused_versions for d, ver in v.dependencies.items()]
        config = replace(config, libraries=tuple(lib.ref for lib in resolve_libraries(store, wanted).values()))
    offered = resolve_libraries(store, config.libraries)
    if not resume_id:
        config = name_apart_from_libraries(config, offered)
    made = make_proposer(config.proposer, config.seed, config, say, task=config.task)
    preflight = getattr(made, "preflight", None)
    if preflight:  # an unreachable server, a model not pulled, a missing key: one line, before the data loads
        try:
            preflight()
        except BaseException:
            getattr(made, "close", lambda: None)()
            raise
    if resume_id and settings:  # they work (a cap has its prices, the server answers): the next resume starts from them
        store.set_run_config(resume_id, {**store.run_json(row, "config"), **settings})
    if config.embedder != "offline":  # an unreachable server or a model not pulled: one line, before the data loads
        from engine.evidence import make_embedder

        make_embedder(config.embedder, host=config.ollama_host).embed(["skillkiln checks the embedder"])
    loaded = load_task(config.task, data_dir, config.text_col, config.label_col, dataset=config.dataset)
    say_notes(loaded)
    if not resume_id:
        config = name_apart_from_other_data(store, replace(config, data_sha256=loaded.fingerprint()))
    elif config.data_sha256 and config.data_sha256 != loaded.fingerprint():  # a changed file, another --data-dir
        raise SkillkilnError(f"run {resume_id} started on other data than task {config.task} holds now (its texts or "
                             "labels changed): resuming would mix two datasets in one run; start a new run instead")
    getattr(made, "check_task", lambda task: None)(loaded)  # a task the proposer cannot do: before the run starts
    if offered and not getattr(made, "uses_libraries", True):
        say(f"warning: the {config.proposer} proposer for {loaded.kind} tasks does not use libraries: no candidate "
            f"of this run will import {', '.join(lib.ref for lib in offered.values())}")
    if resume_id and config.sandbox == "auto" and row["sandbox"] == "docker":
        try:  # a run begun in Docker goes on in Docker, not on the weaker local backend
            backend = open_backend("docker", config.workers, say)
        except SkillkilnError as exc:
            raise SkillkilnError(f"{str(exc).split(';')[0]}: run {resume_id} ran in Docker and goes on only there; "
                                 "start dockerd and resume it again") from None
    else:
        backend = open_backend(config.sandbox, config.workers, say)
    try:
        run = (Run.resume(config, loaded, backend, made, store, resume_id, libraries=offered) if resume_id
               else Run(config, loaded, backend, made, store, libraries=offered))
        what = f"resuming run {run.run_id} at iteration {run.next_iteration}" if resume_id else f"run {run.run_id}"
        say(f"{what}: task {config.task} ({task_line(loaded)}), proposer {config.proposer}, "
            f"sandbox {getattr(backend, 'label', backend.name)}, "
            f"{plural(config.iters, 'iteration')} x {plural(config.batch, 'candidate')}"
            + (f", strategy {config.strategy} (independent samples: no parents, no feedback)"
               if config.strategy != "evolve" else "")
            + (f", seeded with {', '.join(seeded)}" if (seeded := [r for r, _ in seeds] or run.seeded) else "")
            + (f", libraries {', '.join(lib.ref for lib in offered.values())}" if offered else ""))
        with Progress(TextColumn("evolve {task.fields[task_name]}", style="bold", markup=False), BarColumn(),
                      MofNCompleteColumn(),
                      TextColumn("accepted {task.fields[accepted]} · best val {task.fields[metric]} {task.fields[best]}",
                                 markup=False),
                      TimeElapsedColumn(), console=err_console, transient=as_json) as bar:
            job = bar.add_task("evolve", total=config.iters, completed=run.next_iteration,
                               task_name=config.task, accepted=0, best="-",
                               metric=loaded.selection_key.upper())

            def progress(done: int, snap: dict[str, Any]) -> None:
                best = snap["best_validation"]
                bar.update(job, completed=done, accepted=snap["accepted"], best="-" if best is None else f"{best:.3f}")

            try:
                summary = run.execute(progress, reuse=seeds)
            except KeyboardInterrupt:  # stored as interrupted: say which run, and write its report (a second
                if not run.counts["candidates"]:  # Ctrl-C skips the report); nothing to report before a verdict
                    INTERRUPTED[:] = ["", f"interrupted: run {run.run_id} was stored before any candidate was judged; "
                                          f"`evolve --resume {run.run_id}` starts it", run.run_id]
                    raise
                INTERRUPTED.append(run.run_id)
                INTERRUPTED.append(_report(store, run.run_id)[1])
                raise
            except Exception as exc:  # a provider, the disk, the store's file failed mid-run: what was done is stored
                if not isinstance(exc, SkillkilnError):
                    cause = environment_error(exc)
                    if cause is None:
                        raise  # a bug of ours: the last line of defence says so
                    exc = SkillkilnError(cause)
                n = run.counts["candidates"]
                if not store.has_run(run.run_id):  # it failed before the run was stored (a full disk at the start)
                    raise SkillkilnError(f"{exc} (run {run.run_id} was not stored)") from None
                raise SkillkilnError(f"{exc} (run {run.run_id} is stored as failed with its {n} candidate"
                                     f"{'' if n == 1 else 's'}; `evolve --resume {run.run_id}` continues it once that "
                                     f"is fixed{f'; {_report(store, run.run_id)[1]}' if n else ''})",
                                     run_id=run.run_id) from None
    finally:
        backend.close()
        getattr(made, "close", lambda: None)()
    summary["report"] = None
    if not run.counts["candidates"]:  # stopped before its first proposal (a cost cap): no report to make
        say(f"note: run {run.run_id} ended before any candidate, so it has no report; "
            f"`skills runs show {run.run_id}` shows it")
    else:
        summary["report"], said = _report(store, run.run_id)
        if summary["report"] is None:  # the run is stored whatever happens here: a lost report costs a warning
            say(f"warning: {said} (the run is stored: `skills report {run.run_id} -o FILE` writes it elsewhere)")
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
    else:
        print_summary(summary, out_console)


def _report(store, run_id: str) -> tuple[str | None, str]:
    """Write RUN's report where `evolve` writes every report: (its path, 'report PATH'), or (None, why not)."""
    from engine.report import default_report_path, write_report

    try:
        path = str(write_report(store, run_id, default_report_path(store, run_id)))
        return path, f"report {path}"
    except SkillkilnError as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001 - the run is stored; its own result or error matters more
        return None, f"the report could not be made ({type(exc).__name__}: {exc})"


def print_tasks(as_json: bool) -> None:
    from rich.table import Table

    from tasks import task_names, task_spec

    specs = [task_spec(n) for n in task_names()]
    if as_json:
        click.echo(json.dumps([{"name": t.name, "kind": t.kind, "summary": t.summary} for t in specs], indent=2))
        return
    table = Table(title="tasks (also: file:PATH and hf:NAME with --text-col/--label-col)", title_justify="left")
    for col in ("name", "kind", "what"):
        table.add_column(col)
    for t in specs:
        table.add_row(t.name, t.kind, t.summary)
    out_console.print(table)


def llm_settings(proposer: str | None, llm: dict[str, Any], embedder: str = "offline") -> tuple[str, dict[str, Any]]:
    """The proposer and the RunConfig fields of the LLM options, checked for conflicts."""
    from engine.proposers.llm import DEFAULT_MODELS, parse_spec

    creator, repairer, model = llm["creator"], llm["repairer"], llm["model"]
    if proposer is None:
        proposer = parse_spec(creator)[0] if creator else "replay" if llm["transcript"] else "offline"
    live = proposer in ("ollama", "anthropic")
    given = [flag for flag, value in (("--model", model), ("--creator", creator), ("--repairer", repairer),
                                      ("--record", llm["record"]), ("--ollama-host", llm["ollama_host"]),
                                      ("--transcript", llm["transcript"]), ("--max-cost-usd", llm["max_cost_usd"]),
                                      ("--baseline-tokens-per-example", llm["baseline_tokens_per_example"]))
             if value is not None]
    if embedder.startswith("ollama"):  # the embedder talks to Ollama too, whatever the proposer
        given = [flag for flag in given if flag != "--ollama-host"]
    live_only = ("--model", "--creator", "--repairer", "--record", "--ollama-host")  # a replay's transcript decides
    if proposer == "offline" and given:
        which = "ollama or anthropic" if any(f in live_only for f in given) else "ollama, anthropic or replay"
        raise click.UsageError(f"{', '.join(given)}: only for an LLM proposer (--proposer {which})")
    if proposer == "replay":
        if not llm["transcript"]:
            raise click.UsageError("--proposer replay needs --transcript FILE (written by --record)")
        wrong = [f for f in given if f in live_only]
        if wrong:
            raise click.UsageError(f"{', '.join(wrong)}: not with --proposer replay, the transcript decides")
    elif llm["transcript"]:
        raise click.UsageError("--transcript is for --proposer replay")
    if live:
        if creator and model:
            raise click.UsageError("give --creator PROVIDER:MODEL or --model, not both")
        creator = creator or f"{proposer}:{model or DEFAULT_MODELS[proposer]}"
        if parse_spec(creator)[0] != proposer:
            raise click.UsageError(f"--proposer {proposer} conflicts with --creator {creator}")
        if repairer:
            parse_spec(repairer)
    fields = dict(strategy=llm["strategy"], creator=creator if live else None, repairer=repairer if live else None,
                  ollama_host=llm["ollama_host"], llm_timeout_s=llm["llm_timeout"], llm_retries=llm["llm_retries"],
                  transcript=llm["transcript"], record=llm["record"], max_cost_usd=llm["max_cost_usd"],
                  baseline_tokens_per_example=llm["baseline_tokens_per_example"])
    return proposer, fields


# ---------------------------------------------------------------- baseline


@click.command("baseline")
@click.option("--task", required=True, help="Task name (e.g. cola).")
@click.option("--split", type=click.Choice(["train", "validation", "test"]), default="validation", show_default=True)
@click.option("--proposer", type=click.Choice(["ollama", "anthropic"]), default=None,
              help="The provider (default: the one --model names, else anthropic).")
@click.option("--model", default=None, metavar="[PROVIDER:]MODEL",
              help="The model that classifies (default: the provider's default model).")
@click.option("--limit", type=click.IntRange(1), default=None,
              help="Classify a seeded, label-stratified sample of this many examples (default: the whole split).")
@click.option("--batch-size", type=click.IntRange(1, 100), default=1, show_default=True,
              help="Examples per model call.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the --limit sample.")
@click.option("--ollama-host", default=None, metavar="URL",
              help="Ollama server (default $OLLAMA_HOST, else http://127.0.0.1:11434).")
@click.option("--llm-timeout", type=FiniteFloat(0.1), default=300.0, show_default=True,
              help="Seconds the model's server may stay silent (connecting, or between two reads of its answer).")
@click.option("--llm-retries", type=click.IntRange(0, 10), default=3, show_default=True,
              help="Retries of a call that failed in a way worth retrying (429, 5xx, a timeout, a dropped connection).")
@click.option("--max-cost-usd", type=FiniteFloat(0, min_open=True), default=None,
              help="A cap: stop cleanly before a call that could take the cost past it.")
@store_option
@data_option
@column_options
@json_option
def baseline(task: str, split: str, proposer: str | None, model: str | None, limit: int | None, batch_size: int,
             seed: int, ollama_host: str | None, llm_timeout: float, llm_retries: int, max_cost_usd: float | None,
             store_path: str | None, data_dir: str | None, text_col: str, label_col: str, as_json: bool) -> None:
    """Classify a split with the model directly: accuracy, MCC and tokens per example, stored for the
    break-even line of later `evolve` runs."""
    from engine.baseline import check_task, run_baseline
    from engine.ledger import Ledger
    from engine.loop import new_run_id
    from engine.proposers.llm import DEFAULT_MODELS, PROVIDERS, RetryPolicy, make_chat_model, parse_spec
    from tasks import canonical_task, load_task, task_spec

    task = canonical_task(task)
    check_task(task_spec(task))  # an unknown task or a span task: said before any server is asked
    if model and model.split(":", 1)[0] in PROVIDERS:
        provider, name = parse_spec(model)
        if proposer and proposer != provider:
            raise click.UsageError(f"--proposer {proposer} conflicts with --model {model}")
    else:
        provider = proposer or "anthropic"
        name = model or DEFAULT_MODELS[provider]
    chat = make_chat_model(provider, name, ollama_host=ollama_host, timeout_s=llm_timeout,
                           retry=RetryPolicy(attempts=llm_retries + 1), say=say)
    try:
        getattr(chat, "preflight", lambda: None)()
        store = open_store(store_path, writer=True)  # after the key and the server: a refused baseline made a store
        ledger = Ledger(budget_usd=max_cost_usd)
        ledger.require_prices([(provider, name)])
        loaded = load_task(task, data_dir, text_col, label_col)
        say_notes(loaded)
        check_task(loaded)
        run_id = new_run_id()
        config = {"kind": "baseline", "task": task, "split": split, "provider": provider, "model": name,
                  "limit": limit, "batch_size": batch_size, "seed": seed}
        store.start_run(run_id, loaded.name, config, "none (baseline)")
        status, result = "failed", {"kind": "baseline"}
        try:
            say(f"baseline {run_id}: {provider}:{name} classifies {task} {split}"
                f"{f' ({limit} examples)' if limit else ''}, {batch_size} per call")
            result = run_baseline(loaded, split, chat, ledger, limit=limit, batch_size=batch_size, seed=seed)
            # a model that never gave a label classified nothing: no baseline to hold skills against
            silent = result["n"] and result["unparsed"] == result["n"]
            status = ("interrupted" if result["interrupted"] else
                      "failed" if silent or result["error"] else "finished")
        finally:
            store.finish_run(run_id, status, {**result, "run_id": run_id})
    finally:
        getattr(chat, "close", lambda: None)()
    if status == "interrupted":  # its answers are stored; a baseline is not resumed, but run again
        INTERRUPTED[:] = ["", f"interrupted: baseline {run_id} is stored with its {result['n']} answers "
                              f"({result['tokens']['total']:,} tokens) as an interrupted run, not used for break-even",
                          run_id]
        raise Terminated() if result["interrupted"] == "Terminated" else KeyboardInterrupt()
    if status == "failed":
        what = (f"{result['error']} after {result['n']} example{'' if result['n'] == 1 else 's'}" if result["error"]
                else f"none of {provider}:{name}'s {result['n']} answers named a label")
        raise SkillkilnError(f"baseline {run_id}: {what} ({result['tokens']['total']:,} tokens spent; stored with its "
                             "answers as a failed run, not used for break-even)", run_id=run_id)
    result["run_id"] = run_id
    if as_json:
        click.echo(json.dumps(result, indent=2, default=str))
    else:
        from engine.summary import print_baseline

        print_baseline(result, out_console)


def task_line(task) -> str:
    """What a run loaded, so that a table read otherwise than meant shows at once: split sizes, and for a
    classification task its labels with their shares of train."""
    sizes = f"{len(task.train):,} train, {len(task.validation):,} validation, {len(task.test):,} test"
    if task.kind != "classification":
        return sizes
    counts = Counter(task.train.labels)
    shares = ", ".join(f"{label!r} {counts[label] / len(task.train):.0%}" for label in task.labels[:6])
    return f"{sizes}; labels {shares}" + (f" and {len(task.labels) - 6} more" if len(task.labels) > 6 else "")


def settle_name(store, config: RunConfig) -> RunConfig:
    """The stored skill's name, checked before anything runs: NAME@VERSION must parse, and the name must not
    be another task's skill or a retired one (the first accepted candidate would fail, or be hidden)."""
    from engine.config import default_skill_name
    from skills_store.store import check_name

    if config.name == "":  # an empty --name would store under the default name without a word
        raise SkillkilnError("--name is empty; leave it out for the default name (TASK-PROPOSER)")
    check_name(config.skill_name)
    held = store.find_skill(config.skill_name)
    if held is not None and held["task"] != config.task:
        if config.name:
            raise SkillkilnError(f"--name {config.name}: that skill is for task {held['task']!r}, this run is "
                                 f"{config.task!r}; choose another name")
        config = replace(config, name=default_skill_name(config.task, config.proposer, distinct=True))
        held = store.find_skill(config.skill_name)
    if held is not None and held["retired"]:
        raise SkillkilnError(f"skill {config.skill_name} is retired, so a new version would stay hidden: "
                             f"`skills retire {config.skill_name} --undo` first, or choose another --name")
    return config


def name_apart_from_libraries(config: RunConfig, offered: dict) -> RunConfig:
    """The run's skills must not be stored under a library's own name: a version importing an earlier
    version of its own name could never be offered as a library (a sandbox holds one version of a name).
    The default name moves aside, saying so; a --name that collides is refused."""
    from skills_store.store import library_name

    taken = {lib.import_name: lib.name for lib in offered.values()}  # `-` and `_` import as one name
    if library_name(config.skill_name) not in taken:
        return config
    if config.name:
        raise SkillkilnError(f"--name {config.name} imports as {library_name(config.name)}, as library "
                             f"{taken[library_name(config.name)]} does: a version that imports a library of its own "
                             "import name could never be used as a library; choose another --name")
    name = aside(config.skill_name, lambda candidate: library_name(candidate) not in taken)
    say(f"note: the run's skills are stored as {name}: {config.skill_name} is a library of this run (--name chooses)")
    return replace(config, name=name)


def aside(stem: str, free: Callable[[str], bool]) -> str:
    """STEM-2, STEM-3, ...: the first that FREE allows (a run's default name moved aside)."""
    n = 2
    while not free(f"{stem}-{n}"):
        n += 1
    return f"{stem}-{n}"


def name_apart_from_other_data(store, config: RunConfig) -> RunConfig:
    """A new version must beat the latest on validation, and that means nothing across two datasets (a file cut
    short, edited, another --data-dir): the default name moves aside, saying so; a --name is refused."""
    def other(name: str) -> tuple[int, str | None] | None:
        held = store.latest_data(name)
        return held if held and held[1] and held[1] != config.data_sha256 else None

    held = other(config.skill_name)
    if held is None:
        return config
    why = (f"{config.skill_name}@{held[0]} was judged on other data than this run's (its texts or labels differ), "
           "so their validation scores are not comparable")
    if config.name:
        raise SkillkilnError(f"--name {config.name}: {why}; choose another --name")
    def usable(name: str) -> bool:
        skill = store.find_skill(name)
        return other(name) is None and (skill is None or (skill["task"] == config.task and not skill["retired"]))

    name = aside(config.skill_name, usable)
    say(f"warning: the run's skills are stored as {name}: {why}")
    return replace(config, name=name)


def reused(store, ref: str, task: str):
    """A stored skill to seed the population with: it must be for this task and not retired."""
    version = store.get(ref)
    if version.task != task:
        raise SkillkilnError(f"--reuse {ref}: that skill is for task {version.task!r}, this run is {task!r}")
    if version.edited:  # its seeded copy would be stored with a fresh, valid hash
        raise SkillkilnError(f"--reuse {ref}: {version.name}@{version.version}'s code does not match its stored sha256 "
                             "(changed after the gate judged it); `skills verify` lists it; restore it, or name another "
                             "version")
    if store.is_retired(version.name) and "@" not in ref:  # as --library: a named version may still be used
        raise SkillkilnError(f"--reuse {ref}: {version.name} is retired; name a version (NAME@V) to use it anyway, or "
                             f"`skills retire --undo {version.name}`")
    return version


# ---------------------------------------------------------------- entry points


@click.group()
def cli() -> None:
    """skillkiln: evolve small Python skills in a sandbox, gate them, keep them."""


cli.add_command(evolve)
cli.add_command(baseline)
cli.add_command(skills)


INTERNAL_ERROR = 3  # a bug of skillkiln's own: not 1 (rejected, or a skill that failed) nor 2 (bad input, a service down)


class Terminated(KeyboardInterrupt):
    """SIGTERM, or SIGHUP (the terminal closed): the same way out as Ctrl-C (the run stored as interrupted, the
    sandbox closed), exit 128 + the signal's number (143, 129)."""


STOPPING = (signal.SIGTERM, signal.SIGHUP)
SIGNALLED: list[int] = []  # the stopping signal received, if one was


def _on_stop_signal(signum, frame) -> None:
    for number in STOPPING:  # once
        signal.signal(number, signal.SIG_IGN)
    SIGNALLED[:] = [signum]
    raise Terminated()


def _run(command: click.Command) -> None:
    for stream in (sys.stdout, sys.stderr):  # a terminal that cannot show 'µ' or '…' (PYTHONIOENCODING=ascii) gets
        try:  # \xb5, not a UnicodeEncodeError at exit 3
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError):
            pass
    JSON_WANTED.clear()  # this invocation's --json only
    INTERRUPTED.clear()
    SIGNALLED.clear()
    for number in STOPPING:
        signal.signal(number, _on_stop_signal)
    try:
        command.main(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except SystemExit:
        if type(sys.stdout).__name__ == "_PacifyFlushWrapper":  # click's way out of EPIPE: it exits 1, the code of
            os._exit(CLOSED_OUTPUT)  # a rejection or a failed verify; 141 is what a Unix tool gives (`| head`)
        raise
    except click.exceptions.NoArgsIsHelpError as exc:  # a bare `skills`: its help, as --help gives it, not an error
        click.echo(exc.ctx.get_help())
        sys.exit(0)
    except click.UsageError as exc:  # one line, like every other error; --help has the rest
        where = exc.ctx.command_path if exc.ctx else command.name
        if "--json" in sys.argv[1:] and not JSON_WANTED:  # the error came before --json was parsed
            JSON_WANTED.append(True)
        _fail(exc.format_message(), exc.exit_code, hint=f" (see `{where} --help`)")
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (click.Abort, KeyboardInterrupt) as exc:  # click turns Ctrl-C into Abort
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not interrupt the goodbye
        terminated = isinstance(exc, Terminated) or isinstance(exc.__context__, Terminated)
        signum = SIGNALLED[0] if SIGNALLED else signal.SIGTERM
        code = 128 + signum if terminated else 130
        stored: dict[str, str] = {}  # --json names the stored run, as every other failure's object does
        if INTERRUPTED and not INTERRUPTED[0]:  # the whole message, said by the command (and the run it stored)
            message = INTERRUPTED[1]
            stored = {"run_id": INTERRUPTED[2]} if len(INTERRUPTED) > 2 else {}
        elif INTERRUPTED:
            run_id, said = INTERRUPTED[0], INTERRUPTED[1:]
            stored = {"run_id": run_id}
            message = (f"interrupted: run {run_id} is stored with the candidates it evaluated; "
                       f"`evolve --resume {run_id}` continues it" + "".join(f"; {s}" for s in said))
        elif command is skills or (command is cli and "skills" in sys.argv[1:2]):  # browsing: no run to speak of
            message = "interrupted"
        else:
            message = "interrupted (`skills runs` lists any run it had started; `evolve --resume RUN` continues one)"
        if terminated:
            said = "SIGHUP: the terminal closed" if signum == signal.SIGHUP else signal.Signals(signum).name
            message = message.replace("interrupted", f"terminated ({said})", 1)
        try:
            err_console.print(message, soft_wrap=True, markup=False, highlight=False)
            echo_json_error("interrupted" if code == 130 else "terminated", code, **stored)
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, SystemExit):  # no terminal left to say it to (SIGHUP; rich exits on a broken pipe): the run
            pass  # is stored all the same
        # everything is stored and the sandbox closed; threads the interrupt left waiting (an evaluation
        # thread on a lock the interrupt kept held) must not hold the exit back, as joining them would
        os._exit(code)
    except SkillkilnError as exc:  # a SkillFailed's --json output already holds each text's error: no object
        _fail(str(exc), exc.exit_code, as_json=not isinstance(exc, SkillFailed),
              **({"run_id": exc.run_id} if exc.run_id else {}))
    except Exception as exc:  # noqa: BLE001 - the last line of defence against a traceback
        if os.environ.get("SKILLKILN_DEBUG"):
            raise
        if (cause := environment_error(exc)) is not None:  # the machine or the store, not a bug of ours
            _fail(cause, 2)
        _fail(f"unexpected {type(exc).__name__}: {exc}", INTERNAL_ERROR, hint=" (set SKILLKILN_DEBUG=1 for the traceback)")
    else:
        try:  # what is still buffered: a reader gone by now would make the interpreter's own flush exit 120
            sys.stdout.flush()
        except BrokenPipeError:
            os._exit(CLOSED_OUTPUT)


STORE_FAULTS = {  # SQLite's words for what the machine did to the store -> what to say
    "database or disk is full": "the store's disk is full",
    "attempt to write a readonly database": "the store is read-only (its file or folder)",
    "unable to open database file": "the store's file or folder cannot be opened",
    "disk i/o error": "the store's disk failed to read or write",
    "database is locked": "another process holds the store locked",
}


def environment_error(exc: BaseException) -> str | None:
    """The one line for an error the machine or the store caused (exit 2), or None for anything else (a bug)."""
    said = " ".join(str(exc).split())
    if type(exc) is sqlite3.DatabaseError or (isinstance(exc, sqlite3.OperationalError) and (
            said.startswith("no such table") or said.startswith("Could not decode"))):
        # a reader met damage mid-query (a page overwritten, a file cut short, a table dropped)
        return f"the store is damaged ({said[:160]}): `skills verify` lists what SQLite finds"
    if isinstance(exc, sqlite3.OperationalError):
        found = next((text for words, text in STORE_FAULTS.items() if words in said.lower()), None)
        return f"{found} ({said})" if found else None
    if isinstance(exc, OSError) and exc.strerror:  # a full disk, a folder without permission
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return None


def _fail(message: str, exit_code: int, hint: str = "", as_json: bool = True, **fields) -> None:
    """The one red line on stderr (with a hint the JSON object leaves out), the --json object, the exit."""
    err_console.print(f"error: {message}{hint}", style="red", markup=False, highlight=False, soft_wrap=True)
    if as_json:
        echo_json_error(message, exit_code, **fields)
    sys.exit(exit_code)


def main() -> None:
    _run(cli)


def evolve_main() -> None:
    _run(evolve)


def skills_main() -> None:
    _run(skills)
