"""Settings: argument, then environment variable, then default.

Only the settings the code uses so far; each one is a row of ``SETTINGS``.
Nothing is read at import time. :func:`open_catalog` is the one way the price
catalog is opened (CLI, ``llmtally serve``, the lab, estimates, the token
counter): built-in files, the imports under the data folder, the override file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: reading a setting loads no price file
    from llmtally.catalog import Catalog

__all__ = [
    "SETTINGS",
    "Setting",
    "data_home",
    "database_url",
    "display_currency",
    "open_catalog",
    "override_file",
    "spool_file",
]


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    env: str
    default: str
    doc: str


SETTINGS = (
    Setting(
        "home",
        "LLMTALLY_HOME",
        "$XDG_DATA_HOME/llmtally (~/.local/share/llmtally)",
        "where llmtally keeps its data: imported price files, the ledger",
    ),
    Setting(
        "prices",
        "LLMTALLY_PRICES",
        "<home>/prices.yaml",
        "the user override file: negotiated discounts and custom models",
    ),
    Setting(
        "database_url",
        "LLMTALLY_DATABASE_URL",
        "sqlite:///<home>/ledger.sqlite3",
        "the ledger: a SQLite file, or postgresql+psycopg://user@host:5432/db",
    ),
    Setting(
        "spool",
        "LLMTALLY_SPOOL",
        "<home>/ledger-spool.jsonl",
        "where calls wait (append-only JSONL) while the ledger database is down",
    ),
    Setting(
        "currency",
        "LLMTALLY_CURRENCY",
        "USD",
        "the currency reports, the dashboard and budgets show money in (USD EUR GBP CNY JPY)",
    ),
)


def data_home(arg: Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if arg is not None:
        return arg
    if env.get("LLMTALLY_HOME"):
        return Path(env["LLMTALLY_HOME"]).expanduser()
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "llmtally"


def _file_setting(
    arg: Path | None, variable: str, default_name: str, home: Path | None, env: Mapping[str, str]
) -> Path:
    """A file setting: the argument, else the environment variable, else a file
    of that name in the data folder."""
    if arg is not None:
        return arg
    if env.get(variable):
        return Path(env[variable]).expanduser()
    return (home or data_home(env=env)) / default_name


def override_file(
    arg: Path | None = None, home: Path | None = None, env: Mapping[str, str] | None = None
) -> Path:
    env = os.environ if env is None else env
    return _file_setting(arg, "LLMTALLY_PRICES", "prices.yaml", home, env)


def database_url(
    arg: str | None = None, home: Path | None = None, env: Mapping[str, str] | None = None
) -> str:
    env = os.environ if env is None else env
    if arg:
        return arg
    if env.get("LLMTALLY_DATABASE_URL"):
        return env["LLMTALLY_DATABASE_URL"]
    return f"sqlite:///{(home or data_home(env=env)) / 'ledger.sqlite3'}"


def spool_file(
    arg: Path | None = None, home: Path | None = None, env: Mapping[str, str] | None = None
) -> Path:
    env = os.environ if env is None else env
    return _file_setting(arg, "LLMTALLY_SPOOL", "ledger-spool.jsonl", home, env)


def display_currency(arg: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """The currency money is shown in: the argument, else ``LLMTALLY_CURRENCY``,
    else USD. An unknown code is an
    :class:`~llmtally.currency.UnknownCurrencyError` naming the known ones."""
    from llmtally.currency.codes import currency

    env = os.environ if env is None else env
    code = arg or env.get("LLMTALLY_CURRENCY") or "USD"
    return currency(code.strip().upper()[:16]).code


def open_catalog(
    home: Path | None = None, override: Path | None = None, env: Mapping[str, str] | None = None
) -> Catalog:
    """The price catalog as the settings say: the built-in files, the imports
    under the data folder and the override file (discounts, custom models).
    A bad file is a :class:`~llmtally.catalog.CatalogFileError` naming it."""
    from llmtally.catalog import Catalog

    env = os.environ if env is None else env
    folder = data_home(home, env)
    return Catalog.load(home=folder, override=override_file(override, folder, env))
