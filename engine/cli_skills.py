"""`skills`: browse, show, check, run, version and search the skills in the store."""
from __future__ import annotations

import difflib
import getpass
import json
import sys
import textwrap
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from engine.cli_common import (
    column_options,
    data_option,
    json_option,
    keep_whole,
    open_store,
    out_console,
    print_code,
    sandbox_option,
    say,
    say_notes,
    store_option,
    when,
)
from engine.errors import SkillFailed, SkillkilnError
from engine.gate_report import render_verdict
from engine.masking import mask_text, pieces, read_limit, regroup
from engine.records import is_skip, selection_key, split_reasons
from engine.ledger import stored_ledger
from engine.summary import best_text, ledger_text, plural, population_line, skipped_line, stored_note
from engine.user_files import read_user_file, write_user_file
from tasks.metrics import p_text

SKILL_FILE_CAP = 4 << 20  # bytes of a file `skills check` reads (the gate's own cap on a skill is 20 kB)
TEXTS_FILE_CAP = 256 << 20  # bytes of a `skills run --file` of texts

SPLITS = ("train", "validation", "test")


def actor() -> str:
    try:
        return f"user:{getpass.getuser()}"
    except (KeyError, OSError):
        return "user"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, default=str))


def task_kind(task: str, metrics: dict[str, Any] | None = None) -> str:
    """The kind of a stored skill's task: from the registry, else from what its metrics hold."""
    from tasks import task_spec

    try:
        return task_spec(task).kind
    except SkillkilnError:
        held = set((metrics or {}).get("validation") or {})
        return "spans" if "overlap_f1" in held else "classification"


def metric_key(v) -> str:
    """The score a version is selected and versioned by: "f1" for span skills, "mcc" otherwise."""
    return selection_key(task_kind(v.task, v.metrics))


def metric_name(key: str) -> str:
    return {"mcc": "MCC", "f1": "span F1"}.get(key, key)


@click.group("skills")
def skills() -> None:
    """Browse, check and reuse the skills in the store."""


# ---------------------------------------------------------------- browsing


def _version_row(v, store=None) -> dict[str, Any]:
    key = metric_key(v)
    row = {
        "name": v.name, "version": v.version, "task": v.task, "metric": key,
        f"validation_{key}": v.metrics.get("validation", {}).get(key),
        f"test_{key}": v.metrics.get("test", {}).get(key),
        "created_at": v.created_at,
        "origin": f"{v.provenance.get('proposer', '?')} run {v.provenance.get('run_id', '?')}",
        "proposer": v.provenance.get("proposer", "?"), "run_id": v.provenance.get("run_id", "?"),
    }
    if store is not None:
        row["pinned"] = store.pinned(v.name) is not None
        row["retired"] = store.is_retired(v.name)
    return row


@skills.command("list")
@click.option("--task", default=None, help="Only skills of this task.")
@click.option("--all", "include_retired", is_flag=True, help="Include retired skills.")
@store_option
@json_option
def skills_list(task: str | None, include_retired: bool, store_path: str | None, as_json: bool) -> None:
    """Every skill with its current version (the pinned one, else the latest)."""
    store = open_store(store_path)
    task = check_task_filter(store, task)
    rows = [_version_row(v, store) for v in store.latest_versions(task, include_retired)]
    if as_json:
        _echo_json(rows)
        return
    if not rows:
        say(nothing_stored(store, task, include_retired))
        return
    keys = {r["metric"] for r in rows}
    what = metric_name(keys.pop()) if len(keys) == 1 else "score"  # mixed tasks: each row's own metric
    table = Table(title=f"skills in {store.path}", title_justify="left")
    # NAME@VERSION in one column: what `skills show`, `run` and `--reuse` take, and narrow terminals have room for
    for col in ("skill", "task", f"val {what}", f"test {what}", "created", "proposer", "run"):
        table.add_column(col, justify="right" if col.startswith(("val ", "test ")) else "left")
    for r in rows:
        marks = (" pinned" if r["pinned"] else "") + (" retired" if r["retired"] else "")
        mark = f" ({metric_name(r['metric'])})" if what == "score" else ""
        table.add_row(f"{r['name']}@{r['version']}{marks}", r["task"], _num(r[f"validation_{r['metric']}"]) + mark,
                      _num(r[f"test_{r['metric']}"]), when(r["created_at"]), r["proposer"], r["run_id"])
    out_console.print(keep_whole(table, "skill", "run", drop=("created", "proposer", "task", "run")))


def check_task_filter(store, task: str | None) -> str | None:
    """--task as stored (a file: task by its absolute path). It names a task the store holds skills for, a
    registered one, or a file:/hf: task; else it is a typo, and an empty table would hide that."""
    from tasks import canonical_task, task_names

    if task is None or task in task_names() or task.startswith(("file:", "hf:")):
        return canonical_task(task) if task else None
    stored = sorted({v.task for v in store.latest_versions(None, True)})
    if task not in stored:
        raise SkillkilnError(f"no task {task!r} in the store or among the registered tasks ({', '.join(task_names())})"
                             + (f"; the store holds skills for {', '.join(stored)}" if stored else ""))
    return task


def nothing_stored(store, task: str | None, include_retired: bool) -> str:
    """Why `skills list` shows nothing: an empty store, no skill of that task, or only retired ones."""
    if not include_retired and store.latest_versions(task, True):
        what, flag = (f"{task} skills", f" --task {task}") if task else ("skills", "")
        return f"no current {what} in {store.path}: all are retired (`skills list{flag} --all` shows them)"
    if task is None:
        return f"no skills in {store.path} yet: run `evolve --task cola` first"
    return f"no {task} skills in {store.path} yet: run `evolve --task {task}`"


def print_span_metrics(metrics: dict[str, dict[str, float]]) -> None:
    """Span skills: precision, recall and F1 (exact and overlap) per split, beside both baselines."""
    table = Table()
    for col in ("split", "docs", "precision", "recall", "span F1", "overlap F1", "empty baseline F1",
                "capitalised baseline F1", "p (vs baselines)"):
        table.add_column(col, justify="right" if col != "split" else "left")
    for split in ("train_subset",) + SPLITS:
        m = metrics.get(split)
        if m:
            table.add_row(split, str(m.get("n", "-")), _num(m.get("precision")), _num(m.get("recall")),
                          _num(m.get("f1")), _num(m.get("overlap_f1")), _num(m.get("baseline_empty_f1")),
                          _num(m.get("baseline_capitalised_f1")),
                          "-" if m.get("p_value") is None else p_text(m["p_value"], ".2g", m.get("p_floor")))
    out_console.print(table)


def warn_if_changed(v) -> None:
    """A version whose code no longer matches the sha256 stored with it was edited after the gate judged it."""
    if v.edited:
        say(f"warning: {v.name}@{v.version}'s code does not match its stored sha256: it was changed after the gate "
            "judged it (`skills verify` lists every such problem)")


def refuse_if_changed(v, doing: str) -> None:
    """Code edited after the gate judged it is not run or exported as that version (as --reuse and a library are
    not): it would carry the version's scores and verdict without having earned them."""
    if v.edited:
        raise SkillkilnError(f"{v.name}@{v.version}'s code does not match its stored sha256 (changed after the gate "
                             f"judged it), so it is not {doing}; `skills verify` lists it; `skills check` judges code anew")


def print_metrics(metrics: dict[str, dict[str, float]]) -> None:
    if not metrics:  # stopped before any split was scored (the static gate, a crash on the first texts)
        return
    if any("overlap_f1" in (m or {}) for m in metrics.values()):
        print_span_metrics(metrics)
        return
    table = Table()
    invalid = any((m or {}).get("invalid") for m in metrics.values())  # the column only when some output was no label
    columns = ("split", "n", "accuracy", "majority acc.", "MCC", "balanced acc.", "F1", "p (vs chance)")
    for col in columns + (("no label",) if invalid else ()):
        table.add_column(col, justify="right" if col != "split" else "left")
    for split in SPLITS:
        m = metrics.get(split)
        if m:
            table.add_row(split, str(m.get("n", "-")), _num(m.get("accuracy")), _num(m.get("majority_accuracy")),
                          _num(m.get("mcc")), _num(m.get("balanced_accuracy")), _num(m.get("f1")),
                          "-" if m.get("p_value") is None else p_text(m["p_value"], ".2g", m.get("p_floor")),
                          *((str(m.get("invalid", 0)),) if invalid else ()))
    out_console.print(table)
    if invalid:
        out_console.print("no label: outputs that were not one of the task's labels, each scored as wrong (so a "
                          "negative MCC here is no sign that inverting the answers would help)", highlight=False)


@skills.command("show")
@click.argument("ref")
@store_option
@json_option
def skills_show(ref: str, store_path: str | None, as_json: bool) -> None:
    """Code, metrics per split, verdict, parents and provenance of NAME[@VERSION]."""
    store = open_store(store_path)
    v = store.get(ref)
    warn_if_changed(v)
    status = version_status(store, v)
    if as_json:
        _echo_json({**asdict(v), **status})
        return
    flags = "".join(f" · {word}" for word in (
        "pinned" if status["pinned"] else "", "retired" if status["retired"] else "",
        f"latest is @{status['latest']}" if status["latest"] != v.version else "") if word)
    out_console.print(Text.assemble((f"{v.name}@{v.version}", "bold"), f" · task {v.task} · created {v.created_at}"
                                    f" · sha256 {v.code_sha256[:12]}{flags}"), highlight=False)
    if v.description:
        out_console.print(v.description, markup=False, highlight=False)
    print_code(v.code)
    print_metrics(v.metrics)
    for line in render_verdict(v.verdict):
        out_console.print(line, markup=False, highlight=False)
    out_console.print(f"parents: {', '.join(v.parents) or 'none'}", highlight=False)
    if v.dependencies:
        out_console.print("imports: " + ", ".join(f"{n}@{ver}" for n, ver in v.dependencies.items()), highlight=False)
    out_console.print("provenance: " + ", ".join(f"{k}={val}" for k, val in v.provenance.items()),
                      markup=False, highlight=False)


def version_status(store, v) -> dict[str, Any]:
    """Where a version stands: pinned (the one NAME resolves to), its skill retired, the latest version number."""
    return {"pinned": store.pinned(v.name) == v.version, "retired": store.is_retired(v.name),
            "latest": store.latest_version(v.name)}


@skills.command("candidate")
@click.argument("candidate_id")
@store_option
@json_option
def skills_candidate(candidate_id: str, store_path: str | None, as_json: bool) -> None:
    """Any candidate of any run, accepted or rejected: code, stage, verdict with its reasons."""
    store = open_store(store_path)
    row = store.candidate(candidate_id)
    decoded = store.decoded(row)
    verdict = decoded["verdict"]
    if as_json:  # the train outputs decompressed (a list), not the stored bytes
        _echo_json({**decoded, "train_predictions": list(decoded["train_predictions"] or []) or None})
        return
    out_console.print(Text.assemble((f"candidate {row['id']}", "bold"), f" · run {row['run_id']} · iteration "
                                    f"{row['iteration']} · stage {row['stage']} · {row['proposer']} {row['model']}"),
                      highlight=False)
    if row["note"]:
        out_console.print(row["note"], markup=False, highlight=False)
    print_code(row["code"])
    if verdict.get("metrics"):
        print_metrics(verdict["metrics"])
    for line in render_verdict(verdict):
        out_console.print(line, markup=False, highlight=False)
    if row["accepted"]:
        out_console.print(stored_text(store, row), markup=False, highlight=False)


def stored_text(store, row) -> str:
    """Whether an accepted candidate became a version of its run's skill, and which."""
    from engine.config import RunConfig

    name = RunConfig.from_dict(store.run_json(store.run(row["run_id"]), "config")).skill_name
    if row["skill_version"]:
        return f"stored as {name}@{row['skill_version']}"
    return (f"accepted, not stored: {name} already held a version whose validation score was at least as good "
            "(a new version is kept only when validation improves)")


def text_lines(data: str) -> list[str]:
    """One text per line, as an export reads its standard input: a line ends at \n (a CRLF file's \r goes too)
    and nowhere else (str.splitlines also cuts at \r, \f, \v, \x1c-\x1e, \x85, U+2028 and U+2029, which a
    text may hold)."""
    lines = data.split("\n")
    return [line.rstrip("\r") for line in (lines[:-1] if lines and lines[-1] == "" else lines)]


@skills.command("history")
@click.argument("name")
@store_option
@json_option
def skills_history(name: str, store_path: str | None, as_json: bool) -> None:
    """Every version of NAME with its metric change, and every pin, retire and restore."""
    store = open_store(store_path)
    versions = store.versions(name)
    events = [dict(e) for e in store.events(name)]
    if as_json:
        _echo_json({"versions": [_version_row(v) for v in versions], "events": events})
        return
    key = metric_key(versions[-1]) if versions else "mcc"
    what = metric_name(key)
    table = Table(title=f"history of {name}", title_justify="left")
    for col in ("version", "created", f"val {what}", "change", f"test {what}", "proposer", "run"):
        table.add_column(col, justify="left" if col in ("created", "proposer", "run") else "right")
    if key == "f1":
        table.add_column("val precision / recall", justify="right")
    previous = None
    for v in versions:
        val = v.metrics.get("validation", {}).get(key)
        change = "-" if previous is None or val is None else f"{val - previous:+.3f}"
        row = _version_row(v)
        cells = [str(v.version), when(v.created_at), _num(val), change, _num(v.metrics.get("test", {}).get(key)),
                 row["proposer"], row["run_id"]]
        if key == "f1":
            m = v.metrics.get("validation", {})
            cells.append(f"{_num(m.get('precision'))} / {_num(m.get('recall'))}")
        table.add_row(*cells)
        previous = val
    out_console.print(keep_whole(table, "run", drop=("proposer", "created", "run")))
    for e in events:
        at = f"@{e['version']}" if e["version"] is not None else ""
        out_console.print(f"{e['at']}  {e['action']}{at}  by {e['actor']}  {e['detail']}", markup=False, highlight=False)


@skills.command("diff")
@click.argument("ref_a")
@click.argument("ref_b")
@store_option
def skills_diff(ref_a: str, ref_b: str, store_path: str | None) -> None:
    """Unified diff of the code and of the metrics of two versions."""
    store = open_store(store_path)
    a, b = store.get(ref_a), store.get(ref_b)
    label_a, label_b = f"{a.name}@{a.version}", f"{b.name}@{b.version}"
    diff = difflib.unified_diff(a.code.splitlines(keepends=True), b.code.splitlines(keepends=True), label_a, label_b)
    print_code("".join(diff) or "(same code)\n", "diff")
    if a.dependencies != b.dependencies:  # the same code on other library versions runs other code
        imports = lambda v: ", ".join(f"{n}@{ver}" for n, ver in sorted(v.dependencies.items())) or "none"  # noqa: E731
        out_console.print(f"imports: {label_a} {imports(a)}; {label_b} {imports(b)}", markup=False, highlight=False)
    table = Table(title="metrics", title_justify="left")
    for col in ("split", "metric", label_a, label_b, "change"):
        table.add_column(col, justify="left" if col in ("split", "metric") else "right")
    names = {  # metric -> the row's name; a span F1 and a classifier's F1 are told apart across tasks
        "f1": {"precision": "precision", "recall": "recall", "f1": "span F1 (exact)", "overlap_f1": "span F1 (overlap)",
               "baseline_capitalised_f1": "caps baseline F1"},
        "mcc": {"accuracy": "accuracy", "mcc": "MCC", "balanced_accuracy": "balanced accuracy", "f1": "F1"}}
    data_a, data_b = store.data_of(a.name, a.version), store.data_of(b.name, b.version)
    same_data = not (data_a and data_b and data_a != data_b)  # scores on two datasets (a file edited, --data-dir)
    same_task = a.task == b.task and same_data
    # each version's own metrics; side by side (and a change) only for two versions of one task
    columns = ([(names[metric_key(a)], True, True)] if metric_key(a) == metric_key(b)
               else [(names[metric_key(a)], True, False), (names[metric_key(b)], False, True)])
    for split in SPLITS:
        for metrics, of_a, of_b in columns:
            for metric in metrics:
                x = a.metrics.get(split, {}).get(metric) if of_a else None
                y = b.metrics.get(split, {}).get(metric) if of_b else None
                if x is None and y is None:
                    continue
                change = "-" if x is None or y is None or not same_task else f"{y - x:+.3f}"
                table.add_row(split, metrics[metric], _num(x), _num(y), change)
    out_console.print(table)
    if a.task != b.task:
        out_console.print(f"{label_a} is a {a.task} skill and {label_b} a {b.task} skill: each row is a score on "
                          "its own task's data, so no change is shown", markup=False, highlight=False)
    elif not same_data:
        out_console.print(f"{label_a} and {label_b} were judged on different data of task {a.task} (data sha256 "
                          f"{data_a[:12]} and {data_b[:12]}): their scores are not comparable, so no change is shown",
                          markup=False, highlight=False)


@skills.command("export")
@click.argument("ref")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="File to write (default: stdout).")
@store_option
def skills_export(ref: str, output: str | None, store_path: str | None) -> None:
    """A standalone .py module of NAME[@VERSION] that runs without skillkiln, under the sandbox's guards."""
    from skills_store.export import standalone

    store = open_store(store_path)
    v = store.get(ref)
    refuse_if_changed(v, "exported")
    if store.is_retired(v.name):  # as `skills run` says it
        say(f"warning: {v.name} is retired (`skills retire {v.name} --undo` restores it); exporting {v.name}@{v.version} anyway")
    from engine.libraries import resolve

    # what it imports and what those import, dependencies first
    deps = [store.get(lib.ref) for lib in resolve(store, [f"{n}@{ver}" for n, ver in v.dependencies.items()]).values()]
    text = standalone(v, deps)
    if output is None:
        click.echo(text, nl=False)
        return
    replaced = write_user_file(Path(output), text, f"cannot write {output}")  # as `skills report -o` writes
    say(f"wrote {output} ({v.name}@{v.version})" + (", replacing the file that was there" if replaced else ""))


@skills.command("run")
@click.argument("ref")
@click.argument("text", required=False)
@click.option("--file", "file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="One text per line.")
@click.option("--mask", is_flag=True, help="Span skills: print each text with its spans replaced by [LABEL].")
@sandbox_option
@store_option
@json_option
def skills_run(ref: str, text: str | None, file: str | None, mask: bool, sandbox: str, store_path: str | None,
               as_json: bool) -> None:
    """Apply NAME[@VERSION] through the sandbox: one prediction (or, with --mask, one masked text) per line."""
    from sandbox.backend import RunRequest
    from sandbox.factory import open_backend
    from tasks import task_spec

    if (text is None) == (file is None):
        raise SkillkilnError("give either TEXT or --file FILE")
    texts = [text] if text is not None else text_lines(read_user_file(file, TEXTS_FILE_CAP, "a --file of texts"))
    store = open_store(store_path)
    v = store.get(ref)
    refuse_if_changed(v, "run")
    if store.is_retired(v.name):
        say(f"warning: {v.name} is retired (`skills retire {v.name} --undo` restores it); running {v.name}@{v.version} anyway")
    spec = task_spec(v.task)
    if mask and spec.kind != "spans":
        raise SkillkilnError(f"--mask needs a span skill; {v.name}@{v.version} is a {spec.kind} skill (task {v.task})")
    from engine.libraries import resolve

    deps = resolve(store, [f"{n}@{ver}" for n, ver in v.dependencies.items()])  # transitive, dependencies first
    libraries = {name: lib.code for name, lib in deps.items()}
    # a span skill that reads only the start of a text gets a longer one in pieces (engine/masking.py)
    limit = read_limit(v.code) if spec.kind == "spans" else None
    split = [pieces(t, limit) for t in texts]
    backend = open_backend(sandbox, 1, say)
    try:
        result = backend.run(RunRequest(v.code, tuple(p for parts in split for _, p in parts), kind=spec.kind,
                                        labels=spec.labels, libraries=libraries))
    finally:
        backend.close()
    if result.predictions is None:
        raise SkillkilnError(f"{v.name}@{v.version} failed in the sandbox: {result.failure}")
    predictions, errors = regroup(split, result.predictions, result.per_example_errors)
    long = sum(1 for parts in split if len(parts) > 1)
    if long:
        say(f"note: {v.name}@{v.version} reads at most {limit:,} characters of a text; {plural(long, 'longer text')} "
            "ran in pieces cut at line, sentence or word ends, and the spans are placed in the whole text")
    masked = [mask_text(t, p) if mask and i not in errors else ("", 0) for i, (t, p) in enumerate(zip(texts, predictions))]
    dropped = sum(n for _, n in masked)
    if dropped:
        say(f"warning: {plural(dropped, 'span')} left unmasked: malformed, outside the text or overlapping an earlier one")
    failed = (f"{v.name}@{v.version} failed on {len(errors)} of {plural(len(texts), 'text')}"
              + (f" (first: {errors[min(errors)]})" if len(texts) > 1 else f": {errors[min(errors)]}") if errors else "")
    if as_json:
        _echo_json([{"text": t, "prediction": p, "error": errors.get(i), **({"masked": masked[i][0]} if mask else {})}
                    for i, (t, p) in enumerate(zip(texts, predictions))])
    elif len(texts) > 1 or not errors:  # one line per text (an error's line says so); one failed text: stderr only
        for i, prediction in enumerate(predictions):
            if i in errors:
                click.echo(f"error: {errors[i]}")
            else:
                # a span skill's spans as JSON ([[start, end, "LABEL"], ...]), not a Python repr
                shown = prediction if isinstance(prediction, (str, int, float, bool)) else json.dumps(prediction)
                click.echo(masked[i][0] if mask else shown)
    if errors:  # a script must not take a failure for an answer: exit 1
        raise SkillFailed(failed)


@skills.command("search")
@click.argument("query")
@click.option("--task", default=None, help="Only skills of this task.")
@click.option("--limit", type=click.IntRange(1, 100), default=10, show_default=True, help="The most hits shown.")
@store_option
@json_option
def skills_search(query: str, task: str | None, limit: int, store_path: str | None, as_json: bool) -> None:
    """Skills whose description and code are nearest QUERY (hashed n-gram embeddings)."""
    from skills_store.search import search

    store = open_store(store_path)
    task = check_task_filter(store, task)
    hits = search(query, store.latest_versions(task), limit=limit)
    if as_json:
        _echo_json([{"score": round(s, 4), **_version_row(v), "description": v.description} for s, v in hits])
        return
    if not hits:
        say(f"no skill matches {query!r}")
        return
    table = Table(title=f"skills nearest {query!r}", title_justify="left")
    for col in ("score", "skill", "task", "val metric", "description"):
        table.add_column(col)
    for score, v in hits:
        key = metric_key(v)
        table.add_row(f"{score:.3f}", f"{v.name}@{v.version}", v.task,
                      f"{metric_name(key)} {_num(v.metrics.get('validation', {}).get(key))}", textwrap.shorten(v.description, 100, placeholder=" …"))
    out_console.print(keep_whole(table, "skill", drop=("task", "score")))


# ---------------------------------------------------------------- versioning by hand


@skills.command("pin")
@click.argument("ref")
@store_option
def skills_pin(ref: str, store_path: str | None) -> None:
    """Make NAME@VERSION the current version, whatever comes later."""
    if "@" not in ref:
        raise SkillkilnError("pin takes NAME@VERSION")
    v = open_store(store_path, writer=True, create=False).pin(ref, actor())
    say(f"pinned {v.name}@{v.version}" if v else f"{ref} was pinned already: nothing changed")


@skills.command("unpin")
@click.argument("name")
@store_option
def skills_unpin(name: str, store_path: str | None) -> None:
    """Let NAME follow its latest version again."""
    say(f"unpinned {name}" if open_store(store_path, writer=True, create=False).unpin(name, actor()) else f"{name} was not pinned; nothing changed")


@skills.command("retire")
@click.argument("name")
@click.option("--undo", is_flag=True, help="Bring a retired skill back.")
@store_option
def skills_retire(name: str, undo: bool, store_path: str | None) -> None:
    """Hide NAME from lists and reuse (its versions are kept)."""
    if open_store(store_path, writer=True, create=False).retire(name, actor(), retired=not undo):
        say(f"{'restored' if undo else 'retired'} {name}")
    else:
        say(f"{name} {'is not retired' if undo else 'is already retired'}; nothing changed")


@skills.command("verify")
@store_option
@json_option
def skills_verify(store_path: str | None, as_json: bool) -> None:
    """Check the store's integrity, schema and hashes. Exit 1 when a record has a problem (2: the store itself
    cannot be read)."""
    store = open_store(store_path)
    problems = store.verify()
    if as_json:
        _echo_json({"store": str(store.path), "ok": not problems, "problems": problems})
    elif problems:
        for p in problems:
            click.echo(f"problem: {p}")
    else:
        click.echo(f"{store.path}: ok (schema {store.schema_version}{', read-only' if store.read_only else ''})")
    sys.exit(1 if problems else 0)


# ---------------------------------------------------------------- runs


@skills.group("runs", invoke_without_command=True)
@store_option
@json_option
@click.pass_context
def skills_runs(ctx: click.Context, store_path: str | None, as_json: bool) -> None:
    """Every run: task, status, candidates, accepted, best."""
    ctx.ensure_object(dict)
    ctx.obj.update(store_path=store_path, as_json=as_json)
    if ctx.invoked_subcommand is not None:
        return
    rows = []
    store = open_store(store_path)
    counts = store.run_counts()  # a run killed before its summary was written still shows what it stored
    for r in store.runs():
        try:  # one run's damaged summary must not hide every run
            summary, damaged = store.run_json(r, "summary"), False
        except SkillkilnError:
            summary, damaged = {}, True
        best = {} if damaged else store.run_best(r["id"]) or {}
        stored, accepted = counts.get(r["id"], (0, 0))
        process = store.process(r)  # a run still 'running' in the store whose process is gone died: resume it
        status = "died" if process == "gone" else r["status"]
        rows.append({"run_id": r["id"], "task": r["task"], "status": f"{status} (summary damaged)" if damaged else status,
                     "process": process,
                     "sandbox": r["sandbox"],
                     "started_at": r["started_at"], "candidates": summary.get("candidates", stored),
                     "accepted_count": summary.get("accepted_count", accepted),
                     "best": f"{best['name']}@{best['version']}" if best.get("version") else None,
                     "best_candidate": best.get("candidate_id")})  # also when it was not stored (no better than before)
    if as_json:
        _echo_json(rows)
        return
    if not rows:  # as `skills list` says it, not an empty table
        say(f"no run in the store {store.path} yet: `evolve --task cola` starts one")
        return
    table = Table(title="runs", title_justify="left")
    for col in ("run", "task", "status", "sandbox", "started", "candidates", "accepted", "best"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["run_id"], r["task"], r["status"], r["sandbox"], when(r["started_at"]),
                      str(r["candidates"] if r["candidates"] is not None else "-"),
                      str(r["accepted_count"] if r["accepted_count"] is not None else "-"),
                      r["best"] or ("none stored" if r["best_candidate"] else "-"))
    out_console.print(keep_whole(table, "run", "best", drop=("sandbox", "started", "task", "candidates", "status", "accepted")))


@skills_runs.command("show")
@click.argument("run_id")
@store_option
@json_option
@click.pass_context
def skills_runs_show(ctx: click.Context, run_id: str, store_path: str | None, as_json: bool) -> None:
    """One run: its config, counts by verdict reason, best skill."""
    store = open_store(store_path or ctx.obj.get("store_path"))
    run = store.run(run_id)
    candidates = store.candidates(run_id)
    reasons: dict[str, int] = {}
    outcome = {"accepted": 0, "rejected": 0, "skipped": 0}  # as evolve counts them (engine.loop)
    for c in candidates:
        said = store.decoded(c)["reasons"]
        for reason in said:
            reasons[reason] = reasons.get(reason, 0) + 1
        outcome["accepted" if c["accepted"] else "skipped" if is_skip(said) else "rejected"] += 1
    rejections, skipped = split_reasons(reasons)
    stored = store.run_json(run, "summary")  # written when the run ended, however it ended
    info = {
        "run_id": run["id"], "task": run["task"], "status": run["status"], "process": store.process(run),
        "sandbox": run["sandbox"], "started_at": run["started_at"], "finished_at": run["finished_at"], "config": store.run_json(run, "config"),
        # the counts under evolve --json's names: accepted, of them stored as new versions, rejected, skipped
        "candidates": len(candidates), "accepted_count": outcome["accepted"],
        "stored_count": sum(1 for c in candidates if c["skill_version"]),
        "rejected_count": outcome["rejected"], "skipped_count": outcome["skipped"],
        "rejections": rejections,  # failures of the gate
        "skipped": skipped,  # stops of the cascade (engine.records.SKIPS)
        "best": store.run_best(run_id), "stop_reason": stored.get("stop_reason"), "error": stored.get("error"),
        "population": stored.get("population"),  # when the run ended: islands, specialists, migrations
        "evidence": store.iterations(run_id),  # per iteration: the elite's failure clusters
        "ledger": stored_ledger(store, run_id, stored),  # model calls: the summary's, or those booked as they came
    }
    if as_json or ctx.obj.get("as_json"):
        _echo_json(info)
        return
    status = {"gone": f"died without finishing (`evolve --resume {run_id}` continues it)",
              "alive": "running now"}.get(info["process"], info["status"])
    out_console.print(Text.assemble((f"run {run_id}", "bold"), f" · task {info['task']} · {status} · sandbox "
                                    f"{info['sandbox']} · {info['started_at']} → {info['finished_at'] or '…'}"),
                      highlight=False)
    out_console.print(f"candidates {info['candidates']}, accepted {info['accepted_count']}"
                      f"{stored_note(info['accepted_count'], info['stored_count'])}", highlight=False)
    if info["stop_reason"]:
        out_console.print(f"stopped: {info['stop_reason']}", markup=False, highlight=False)
    if info["error"]:
        out_console.print(f"error: {info['error']}", markup=False, highlight=False)
    out_console.print("rejections: " + (", ".join(f"{k} {n}" for k, n in info["rejections"].items()) or "none"),
                      highlight=False)
    if skipped:
        out_console.print(f"skipped: {skipped_line(skipped)}", highlight=False)
    out_console.print(f"best: {best_text(info['best'])}", highlight=False)
    if info["ledger"] and info["ledger"].get("calls"):  # an offline run made none: no "0 tokens in 0 calls ()"
        out_console.print(f"ledger: {ledger_text(info['ledger'])}", markup=False, highlight=False)
    if population := population_line(info["population"]):
        out_console.print(f"population: {population}", markup=False, highlight=False)
    if info["evidence"]:
        last = info["evidence"][-1]
        out_console.print(f"failure clusters: {len(info['evidence'])} iterations recorded; the last, {last['iteration']}: "
                          f"{last.get('errors', 0):,} misclassified train examples in {last.get('clusters', 0)} clusters "
                          f"(largest {last.get('largest', 0)}, average {last.get('average_size', 0)}); every iteration's "
                          "in --json and the report", markup=False, highlight=False)
    config = ", ".join(f"{k}={v}" for k, v in info["config"].items() if k not in ("gate", "limits"))
    out_console.print(f"config: {config}", markup=False, highlight=False)


def check_libraries(asked: tuple[str, ...], embedded: dict[str, tuple[str, str]],
                    store_path: str | None) -> tuple[dict[str, str], list[str]]:
    """The libraries `skills check` injects, by import name, and their NAME@V refs: those --library names,
    else the versions an export was made with. Either way the code comes from the store, which gated it: an
    export's own copy is only compared with it (a library smuggled into a file would skip the static gate)."""
    from engine.libraries import resolve

    if not asked and not embedded:
        return {}, []
    store = open_store(store_path)
    if asked:
        libs = resolve(store, asked)
        for name, lib in libs.items():
            if name in embedded and embedded[name][0] != lib.ref:
                say(f"warning: the export carries {embedded[name][0]}; checking with {lib.ref}, as --library asks")
        left_out = [ref for name, (ref, _) in embedded.items() if name not in libs]
        if left_out:  # --library names the libraries to check with, all of them
            say(f"warning: the export also carries {', '.join(left_out)}, left out: --library names every library "
                "to check with (name those too)")
    else:
        refs = [ref for ref, _ in embedded.values()]
        for ref, code in embedded.values():
            if store.get(ref).code != code:
                raise SkillkilnError(f"the export carries {ref}, but its code is not the stored {ref}'s; "
                                     "name the libraries to check with --library NAME@V")
        say(f"using the library versions the export was made with: {', '.join(refs)}")
        libs = resolve(store, refs)
    return {name: lib.code for name, lib in libs.items()}, [lib.ref for lib in libs.values()]


@skills.command("report")
@click.argument("run_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="HTML file to write (default: reports/RUN.html beside the store).")
@store_option
def skills_report(run_id: str, output: str | None, store_path: str | None) -> None:
    """One self-contained HTML page for RUN: scores, rejections, lineage, tokens."""
    from engine.report import default_report_path, write_report

    store = open_store(store_path)
    path = write_report(store, run_id, Path(output) if output else default_report_path(store, run_id))
    click.echo(str(path))


@skills.command("check")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--task", required=True, help="The task whose data and gate judge the file (cola, pii, file:PATH...).")
@click.option("--library", "libraries", multiple=True, metavar="NAME[@V]",
              help="A stored skill the file may import (`from skills import NAME`, '-' read as '_'). Repeatable.")
@column_options
@sandbox_option
@store_option
@data_option
@json_option
def skills_check(file: str, task: str, libraries: tuple[str, ...], text_col: str, label_col: str, sandbox: str,
                 store_path: str | None, data_dir: str | None, as_json: bool) -> None:
    """Run a skill file through the static gate, the sandbox and the gate. Exit 0 accepted, 1 rejected."""
    from engine.evaluate import Evaluator
    from sandbox.factory import open_backend
    from tasks import load_task

    from skills_store.export import as_python_reads, embedded_libraries, export_format, skill_source, wrapper_problem

    text = as_python_reads(read_user_file(file, SKILL_FILE_CAP, "a skill file (an export holds its libraries too)"))

    code, exported = skill_source(text)
    embedded = embedded_libraries(text) if exported else {}
    if exported:
        say(f"{file} is a skillkiln export: checking the skill's own code, without the rest of the file")
    if export_format(text) == "legacy":
        say(f"warning: {file} was exported before exports ran their skill under the sandbox's guards: `python3` runs "
            "its code as plain Python; a fresh `skills export` writes one that runs it under the guards")
    codes, refs = check_libraries(libraries, embedded, store_path)
    if exported and (problem := wrapper_problem(text, embedded)):
        raise SkillkilnError(f"{file} is marked as a skillkiln export, but {problem}; only the skill's own code "
                             "would be checked while `python3` runs the whole file, so it is refused "
                             "(check a fresh `skills export`, or the skill's own code)")
    if "from skills import" in code and not codes:
        say("warning: it imports from `skills`; name what it imports with --library NAME@V")
    loaded = load_task(task, data_dir, text_col, label_col)
    say_notes(loaded)
    backend = open_backend(sandbox, 1, say)
    try:
        # a one-file check wants full-train numbers, so no cascade
        evaluation = Evaluator(loaded, backend, cascade=False).evaluate(code, libraries=codes)
    finally:
        backend.close()
    verdict = evaluation.verdict
    label = getattr(backend, "label", backend.name)  # "local (weaker isolation)" where it is
    if as_json:
        _echo_json({**verdict.to_dict(), "stage": evaluation.stage, "sandbox": backend.name, "sandbox_label": label,
                    "libraries": refs})
    else:
        print_metrics({k: m.to_dict() for k, m in verdict.metrics.items()})
        out_console.print(f"stage reached: {evaluation.stage}", highlight=False)
        out_console.print(f"sandbox: {label}", highlight=False, markup=False)
        if refs:
            out_console.print(f"libraries: {', '.join(refs)}", highlight=False)
        for line in render_verdict(verdict.to_dict()):
            out_console.print(line, markup=False, highlight=False)
    sys.exit(0 if verdict.accepted else 1)
