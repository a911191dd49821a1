"""What the command modules share: consoles, the one-line `say`, common options."""
from __future__ import annotations

import math
import os
from pathlib import Path

import click
from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table

from engine.errors import SkillkilnError

# With no terminal at all (a CI log, cron, a subprocess) rich would draw tables 80 columns wide
# and cut their cells; there is no screen to fit, so draw them wide. COLUMNS still wins.
NO_TERMINAL_WIDTH = 160


MIN_WIDTH = 20  # a COLUMNS below this (0, 1: a broken environment) is ignored: rich drew nothing at all at 0
CLOSED_OUTPUT = 141  # 128 + SIGPIPE: the exit of a Unix tool whose reader went away (`skills list | head -1`)


def _terminal_width() -> int | None:
    """None (rich measures the terminal, or takes COLUMNS) unless no standard stream is a terminal and COLUMNS
    is unset, or COLUMNS is no width (0, words): then the terminal's width, else NO_TERMINAL_WIDTH."""
    columns = os.environ.get("COLUMNS")
    usable = columns is not None and columns.isascii() and columns.isdigit() and int(columns) >= MIN_WIDTH
    for fd in (0, 1, 2):
        try:
            size = os.get_terminal_size(fd).columns
        except (OSError, ValueError):
            continue
        return None if usable or columns is None else max(size, MIN_WIDTH)
    return None if usable else NO_TERMINAL_WIDTH


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """The reader went away: exit 141, not rich's 1 (the code of a rejection, or of verify's problems)."""
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self.file.fileno())  # so the interpreter's last flush does not fail again
        raise SystemExit(CLOSED_OUTPUT)


# markup off: what the consoles print holds names, tasks, paths and notes from the store and the user, and
# `file:[bold].csv` or a legacy store's name `[red]x` must print as written. Styles are Text objects.
err_console = _Console(stderr=True, emoji=False, markup=False, width=_terminal_width())
out_console = _Console(emoji=False, markup=False, width=_terminal_width())


def say(message: str) -> None:
    style = "yellow" if message.startswith("warning") else "dim"
    err_console.print(message, style=style, markup=False, highlight=False, soft_wrap=True)


def say_notes(task) -> None:
    """What the task's loader found odd (a data file shorter than its release), as warnings."""
    for note in getattr(task, "notes", ()):
        say(f"warning: {note}")


def open_store(path: str | None, writer: bool = False, create: bool | None = None):
    """The store at PATH (default: $SKILLKILN_STORE, else the per-user one). A reader needs it to
    exist: a mistyped --store is an error, not a new empty store. A writer refuses one that SQLite
    finds damaged before changing anything in it; evolve and baseline may create it (CREATE, by
    default the same as WRITER), skills pin/unpin/retire may not."""
    from skills_store.store import Store, default_store_path

    where = Path(path) if path else default_store_path()
    if where.is_dir():  # $SKILLKILN_STORE naming a folder said "read-only (unable to open database file)"
        raise SkillkilnError(f"the store {where} is a directory: name the store's file (--store or $SKILLKILN_STORE)")
    if not (writer if create is None else create):
        if not where.exists():
            raise SkillkilnError(f"no store at {where}: `evolve` makes one (or name another with --store or $SKILLKILN_STORE)")
        if where.is_file() and where.stat().st_size == 0:  # a reader made an empty file (notes.txt) a store
            raise SkillkilnError(f"{where} is an empty file, not a store: `evolve` makes one (or name another with "
                                 "--store or $SKILLKILN_STORE)")
    store = Store(where, read_only_ok=not writer)  # a store on read-only media can still be browsed
    if writer:
        store.check_writable()
    return store


store_option = click.option("--store", "store_path", type=click.Path(dir_okay=False), default=None,
                            help="Store file (default: $SKILLKILN_STORE or the per-user data directory).")
data_option = click.option("--data-dir", type=click.Path(file_okay=False), default=None,
                           help="Local data folder (default: $SKILLKILN_DATA_DIR, else the hub).")
dataset_option = click.option("--dataset", default=None, metavar="HUB_NAME",
                              help="A hub dataset for a task that takes one (pii: an ai4privacy PII-masking set).")
sandbox_option = click.option("--sandbox", type=click.Choice(["auto", "docker", "local"]), default="auto",
                              show_default=True, help="docker, local (weaker isolation), or auto.")


class FiniteFloat(click.FloatRange):
    """A FloatRange that refuses nan and inf (NaN passes every comparison check as false: a NaN cap was
    no cap, and a NaN baseline broke the break-even line after the run had finished)."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


JSON_WANTED: list[bool] = []  # set once a command's --json is parsed: its failure is a JSON object too


def _remember_json(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        JSON_WANTED.append(True)
    return value


json_option = click.option("--json", "as_json", is_flag=True, callback=_remember_json,
                           help="Print one JSON object instead of tables (on failure too: its error and exit code).")


def echo_json_error(message: str, exit_code: int, **fields) -> None:
    """With --json, a failure still prints one JSON object on stdout (the one-line error stays on stderr)."""
    if JSON_WANTED:
        import json

        click.echo(json.dumps({"error": message, "exit_code": exit_code, **fields}))


def print_code(text: str, lexer: str = "python") -> None:
    """Code or a diff: highlighted (and wrapped to the screen) on a terminal; verbatim, every line
    whole, when stdout goes to a file or a pipe."""
    if out_console.is_terminal:
        out_console.print(Syntax(text, lexer, word_wrap=True))
    else:
        out_console.print(text, markup=False, highlight=False, soft_wrap=True, end="" if text.endswith("\n") else "\n")


def keep_whole(table: Table, *headers: str, drop: tuple[str, ...] = ()) -> Table:
    """Never cut these columns (skill names, run ids: things a user copies into the next command) to
    fit a narrow terminal: they keep their full width and the other columns give way. Before that, the
    columns DROP names (the least needed first) are left out, one by one, while the whole table is wider
    than the console: at 80 columns `skills list` had cut every score to '0.…'. A note names them."""
    def natural(column) -> int:
        return max(len(str(c)) for c in [column.header, *column.cells])

    need = sum(natural(c) + 3 for c in table.columns) + 1  # a cell's padding and rule
    hidden = []
    for header in drop:
        if need <= out_console.width:
            break
        column = next((c for c in table.columns if c.header == header), None)
        if column is not None:
            table.columns.remove(column)
            need -= natural(column) + 3
            hidden.append(header)
    for column in table.columns:
        if column.header in headers:
            column.no_wrap = True
            column.min_width = natural(column)
    if hidden:
        table.caption = f"not shown at {out_console.width} columns: {', '.join(hidden)} (--json has every field)"
        table.caption_justify = "left"
    return table


def when(stamp: str | None) -> str:
    """A stored UTC timestamp (2026-12-06T17:13:22+00:00) as a table shows it (UTC): 2026-12-06 17:13."""
    return f"{stamp[:10]} {stamp[11:16]}" if stamp and len(stamp) >= 16 else (stamp or "-")


def options_given(ctx: click.Context, keep: set[str]) -> list[tuple[str, str]]:
    """The options of CTX's command set on the command line or by environment, outside KEEP: (name, flag)."""
    given = (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT)
    return [(p.name, max(p.opts, key=len)) for p in ctx.command.params
            if p.name not in keep and ctx.get_parameter_source(p.name) in given]


def column_options(command):
    """--text-col and --label-col, for file:PATH and hf:NAME tasks."""
    command = click.option("--label-col", default="label", show_default=True,
                           help="Label column of a file:/hf: task.")(command)
    return click.option("--text-col", default="text", show_default=True,
                        help="Text column of a file:/hf: task.")(command)
