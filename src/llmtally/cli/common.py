"""What every command shares: opening the catalog, printing JSON, failing cleanly."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from llmtally.config import data_home, override_file

if TYPE_CHECKING:  # imported where used: a command loads only what it needs
    from rich.console import Console

    from llmtally.catalog import Catalog

__all__ = ["HomeOption", "OverrideOption", "fail", "open_catalog", "print_json", "stderr"]

HomeOption = typer.Option(None, "--home", help="Data folder (env LLMTALLY_HOME).")
OverrideOption = typer.Option(
    None, "--prices-file", help="Override file: discounts, custom models (env LLMTALLY_PRICES)."
)


def stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def fail(message: str, code: int = 2) -> NoReturn:
    stderr().print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True)
    raise typer.Exit(code)


def open_catalog(home: Path | None, override: Path | None) -> Catalog:
    from llmtally.catalog import Catalog, CatalogFileError

    folder = data_home(home)
    try:
        return Catalog.load(home=folder, override=override_file(override, folder))
    except CatalogFileError as exc:
        fail(str(exc))


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
