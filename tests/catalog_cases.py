"""The runners the catalog's hand-worked price cases share (test_catalog_china_intl,
test_catalog_china_cny_a, test_catalog_china_cny_b, test_catalog_resellers_prices).
Each test file keeps its own table of cases (the data, with its arithmetic); this
module only prices a case and checks it, and runs ``llmtally prices``."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from llmtally.catalog import Catalog
from llmtally.cli import app
from llmtally.meter import Cost, cost
from llmtally.usage import Usage

__all__ = [
    "NOW",
    "distinct_cases",
    "each_case",
    "prices_cli",
    "prices_json",
    "priced",
    "synthetic_catalog",
]

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


def priced(
    catalog: Catalog,
    provider: str | None,
    model: str,
    usage: Mapping[str, Any],
    total: str,
    parts: Mapping[str, str],
    at: dt.datetime = NOW,
) -> Cost:
    """Price ``usage`` of ``model`` at ``at``; assert the hand-worked ``total`` and
    each named part; the cost, for the checks a file adds."""
    got = cost(Usage(**usage), catalog.price_at(provider, model, at))
    assert got.total == Decimal(total)
    for name, amount in parts.items():
        assert getattr(got, name) == Decimal(amount), name
    return got


def each_case(cases: Sequence[tuple[Any, ...]]) -> pytest.MarkDecorator:
    """Run a test once per case, given as ``case`` and named by its id (its first item)."""
    return pytest.mark.parametrize("case", cases, ids=[case[0] for case in cases])


def distinct_cases(ids: list[str], least: int) -> None:
    """At least ``least`` cases, no two under one id."""
    assert len(ids) >= least
    assert len(set(ids)) == len(ids)


def prices_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """``llmtally <args>`` on the shipped price files only, in a fresh home."""
    monkeypatch.setenv("LLMTALLY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LLMTALLY_PRICES", raising=False)
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args))

    return invoke


def prices_json(run: Callable[..., Result], pattern: str) -> list[dict[str, Any]]:
    """The rows ``llmtally prices <pattern> --json`` lists (it must succeed)."""
    result = run("prices", pattern, "--json")
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def synthetic_catalog(factory: pytest.TempPathFactory, text: str) -> Catalog:
    """A catalog of one made-up price file (``text``) instead of the shipped ones."""
    folder = factory.mktemp("prices")
    (folder / "acme.yaml").write_text(text)
    return Catalog.load(builtin=folder)
