"""Reading rate files: the shipped table and the user's override file.

A rate file is YAML: a mapping with ``rates``, a list of rows, each with
``date`` (YYYY-MM-DD), ``base``, ``quote`` (ISO 4217 codes), ``rate`` (1 base =
rate quote, digits kept exactly as written, quoted or not) and ``source``. A
bad file is a :class:`RatesFileError` naming the file, the line and the field.

The override file follows the other user files (llmtally.config): the
argument, else ``LLMTALLY_RATES``, else ``<home>/rates.yaml``. Its rows win
over shipped rows for the same day and pair (either way round). A row whose
rate is off by more than a factor 2 from the shipped rate for its pair is an
error too (:mod:`llmtally.currency.plausible`: usually a row the wrong way round).

A file that is named (the argument, ``LLMTALLY_RATES``) must exist: for a
command (:func:`open_rates`) a missing one is a :class:`RatesFileError`; the
ledger's table (``currency.pivot``, which calls :func:`rates_file` and
:func:`read_rates_file`) converts with the shipped rates and logs a warning.
Each problem the ledger's table meets is logged once (a gateway has no one else
to tell), again only after the file has been read well in between.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import TypeVar

import yaml

from llmtally.config import _file_setting, data_home
from llmtally.currency.codes import UnknownCurrencyError, currency
from llmtally.currency.plausible import implausible
from llmtally.currency.rates import Rate, RateTable

__all__ = [
    "FIELDS",
    "RatesFileError",
    "open_rates",
    "parse_rates",
    "rates_file",
    "read_rates_file",
    "shipped_rates",
]

T = TypeVar("T")

FIELDS = ("date", "base", "quote", "rate", "source")
VARIABLE = "LLMTALLY_RATES"

_log = logging.getLogger("llmtally.currency")
_warned: set[str] = set()  # the problems logged since the file was last read well
_warned_lock = threading.Lock()


class RatesFileError(ValueError):
    """A rate file that cannot be used, with where and why."""


def rates_file(
    arg: Path | None = None, home: Path | None = None, env: Mapping[str, str] | None = None
) -> Path:
    """The override file's path. One that is named (``arg``, ``LLMTALLY_RATES``)
    but does not exist is logged (once; see the module's notes): the ledger's
    table then converts with the shipped rates alone."""
    env = os.environ if env is None else env
    path, named = _located(arg, home, env)
    if named is not None and not path.exists():
        _warn_once(f"{_missing(path, named)}; converting with the shipped rates alone")
    return path


def open_rates(
    home: Path | None = None, override: Path | None = None, env: Mapping[str, str] | None = None
) -> RateTable:
    """The shipped rates, then the override file's rows over them. RatesFileError:
    the file cannot be used, or it is named (argument, ``LLMTALLY_RATES``) and
    does not exist (``<home>/rates.yaml`` is optional)."""
    env = os.environ if env is None else env
    path, named = _located(override, data_home(home, env), env)
    if not path.exists():
        if named is not None:
            raise RatesFileError(_missing(path, named))
        return RateTable(shipped_rates())
    return RateTable(shipped_rates(), _user_rates(path))


def _located(
    arg: Path | None, home: Path | None, env: Mapping[str, str]
) -> tuple[Path, str | None]:
    """The override file's path, and what named it (None: the default file)."""
    named = "the argument" if arg is not None else VARIABLE if env.get(VARIABLE) else None
    return _file_setting(arg, VARIABLE, "rates.yaml", home, env), named


def _missing(path: Path, named: str) -> str:
    return f"{path}: no such file (named by {named})"


def _warn_once(problem: str) -> None:
    with _warned_lock:
        if problem in _warned:
            return
        _warned.add(problem)
    _log.warning("exchange rates file: %s", problem)


@lru_cache(maxsize=1)
def shipped_rates() -> tuple[Rate, ...]:
    text = (files("llmtally.currency") / "data" / "rates.yaml").read_text(encoding="utf-8")
    return parse_rates(text, "llmtally/currency/data/rates.yaml")


def read_rates_file(path: Path) -> tuple[Rate, ...]:
    """The override file's rows, for the ledger's table: a RatesFileError is
    logged (once, see the module's notes) before it is raised, since the calls
    it leaves unpriced are recorded where no one sees the exception."""
    try:
        rows = _user_rates(path)
    except RatesFileError as exc:
        _warn_once(
            f"{exc}; calls billed in another currency are recorded unpriced until it is fixed"
        )
        raise
    with _warned_lock:
        _warned.clear()
    return rows


def _user_rates(path: Path) -> tuple[Rate, ...]:
    """The override file's rows, each checked against the shipped rate."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RatesFileError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise RatesFileError(f"{path}: cannot be read ({exc.strerror})") from None
    shipped = shipped_rates()
    return parse_rates(text, str(path), lambda row: implausible(row, shipped))


def parse_rates(
    text: str, origin: str, check: Callable[[Rate], str | None] | None = None
) -> tuple[Rate, ...]:
    """The rows of a rate file; ``check`` says what is wrong with a row (None: nothing)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{origin}:{mark.line + 1}" if mark is not None else origin
        problem = getattr(exc, "problem", None) or str(exc)
        raise RatesFileError(f"{where}: not valid YAML: {problem}") from None
    rows = _row_nodes(root, origin)
    seen: dict[tuple[frozenset[str], date], int] = {}
    result = []
    for node in rows:
        rate = _row(node, origin)
        line = node.start_mark.line + 1
        problem = check(rate) if check is not None else None
        if problem is not None:
            raise RatesFileError(f"{origin}:{line}: rate: {problem}")
        earlier = seen.setdefault((rate.pair, rate.day), line)
        if earlier != line:
            raise RatesFileError(
                f"{origin}:{line}: a second {rate.base}/{rate.quote} rate for "
                f"{rate.day.isoformat()} (the first is on line {earlier})"
            )
        result.append(rate)
    return tuple(result)


def _row_nodes(root: yaml.Node | None, origin: str) -> list[yaml.Node]:
    shape = "a rate file is a mapping with 'rates', a list of rows"
    if not isinstance(root, yaml.MappingNode):
        line = root.start_mark.line + 1 if root is not None else 1
        raise RatesFileError(f"{origin}:{line}: {shape}")
    values = _fields(root, origin, ("rates",))
    rows = values["rates"]
    if not isinstance(rows, yaml.SequenceNode):
        raise RatesFileError(f"{origin}:{rows.start_mark.line + 1}: rates: {shape}")
    return list(rows.value)


def _fields(node: yaml.MappingNode, origin: str, names: tuple[str, ...]) -> dict[str, yaml.Node]:
    """The mapping's values by key: exactly ``names``, each once."""
    values: dict[str, yaml.Node] = {}
    for key, value in node.value:
        name = str(key.value)
        where = f"{origin}:{key.start_mark.line + 1}: {name}"
        if name not in names:
            raise RatesFileError(f"{where}: unknown field (expected {', '.join(names)})")
        if name in values:
            raise RatesFileError(f"{where}: given twice")
        values[name] = value
    missing = [name for name in names if name not in values]
    if missing:
        line = node.start_mark.line + 1
        raise RatesFileError(f"{origin}:{line}: {missing[0]}: missing")
    return values


def _row(node: yaml.Node, origin: str) -> Rate:
    if not isinstance(node, yaml.MappingNode):
        line = node.start_mark.line + 1
        raise RatesFileError(f"{origin}:{line}: a row is a mapping of {', '.join(FIELDS)}")
    nodes = _fields(node, origin, FIELDS)
    text = {name: _scalar(nodes[name], name, origin) for name in FIELDS}
    try:
        row = Rate(
            day=_parse("date", text["date"], _day),
            base=_parse("base", text["base"], _code),
            quote=_parse("quote", text["quote"], _code),
            rate=_parse("rate", text["rate"], _positive),
            source=_parse("source", text["source"], _nonempty),
        )
    except _FieldError as exc:
        line = nodes[exc.field].start_mark.line + 1
        raise RatesFileError(f"{origin}:{line}: {exc.field}: {exc.problem}") from None
    if row.base == row.quote:
        line = nodes["quote"].start_mark.line + 1
        raise RatesFileError(f"{origin}:{line}: quote: the same currency as base")
    return row


def _scalar(node: yaml.Node, name: str, origin: str) -> str:
    if not isinstance(node, yaml.ScalarNode):
        raise RatesFileError(f"{origin}:{node.start_mark.line + 1}: {name}: expected one value")
    return str(node.value).strip()


class _FieldError(Exception):
    def __init__(self, field: str, problem: str) -> None:
        super().__init__(field, problem)
        self.field, self.problem = field, problem


def _parse(field: str, text: str, parse: Callable[[str], T]) -> T:
    try:
        return parse(text)
    except ValueError as exc:
        raise _FieldError(field, str(exc)) from None


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _code(text: str) -> str:
    try:
        return currency(text).code
    except UnknownCurrencyError as exc:
        raise ValueError(str(exc)) from None


def _positive(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number") from None
    if not value.is_finite() or value <= 0:
        raise ValueError(f"{text!r}: a rate is a positive number")
    return value


def _nonempty(text: str) -> str:
    if not text:
        raise ValueError("empty")
    return text
