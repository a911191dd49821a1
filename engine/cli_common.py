"""What the command modules share: consoles, the one-line `say`, common options."""
from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

err_console = Console(stderr=True, emoji=False)
out_console = Console(emoji=False)


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
dataset_option = click.option("--dataset", default=None, metavar="HUB_NAME",
                              help="A hub dataset for a task that takes one (pii: an ai4privacy PII-masking set).")
sandbox_option = click.option("--sandbox", type=click.Choice(["auto", "docker", "local"]), default="auto",
                              show_default=True, help="docker, local (weaker isolation), or auto.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")




def column_options(command):
    """--text-col and --label-col, for file:PATH and hf:NAME tasks."""
    command = click.option("--label-col", default="label", show_default=True,
                           help="Label column of a file:/hf: task.")(command)
    return click.option("--text-col", default="text", show_default=True,
                        help="Text column of a file:/hf: task.")(command)
