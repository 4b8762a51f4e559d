"""The advisor on a synthetic ledger (``advisor_synthetic``): every planted
opportunity found with its hand-computed monthly saving, to the cent and
exactly; none of the traps recommended; overlapping savings combined, not summed.

Prices (built-in catalog, openai.yaml), USD per 1M tokens:
gpt-4o-mini 0.15 in / 0.60 out, batch 0.075 / 0.30; gpt-4o 2.50 / 10.00.
A BIG gpt-4o-mini call (100,000 in, 10,000 out): 0.1 x 0.15 + 0.01 x 0.60
= 0.015 + 0.006 = $0.021; at batch 0.0075 + 0.003 = $0.0105 (half).
A SMALL gpt-4o call (10,000 in, 1,000 out): 0.01 x 2.50 + 0.001 x 10 = $0.035.
The period is 15 days, so a month (30 days) is twice the period.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from typer.testing import CliRunner

from advisor_synthetic import SINCE, UNTIL, advice_of, planted, savings_by_kind_and_feature
from llmtally.advisor import advise
from llmtally.advisor.batch import batch_recommender
from llmtally.advisor.duplicates import duplicates_within
from llmtally.advisor.period import load_period
from llmtally.advisor.repeat_rows import repeated_calls
from llmtally.catalog import Catalog
from llmtally.cli import app
from llmtally.ledger import open_store
from test_ledger_support import db_url, pg_base_url  # noqa: F401


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


@pytest.fixture
def database(db_url: str, catalog: Catalog) -> str:  # noqa: F811
    """The ledger on SQLite and on PostgreSQL (the advisor's SQL runs on both)."""
    with open_store(db_url) as store:
        planted(catalog).store(store)
    return db_url


def test_every_planted_opportunity_with_its_saving(database: str, catalog: Catalog) -> None:
    advice = advice_of(database, catalog)
    assert savings_by_kind_and_feature(advice) == {
        # reports: 50 bodies x 4 sends within 45 min -> 150 repeats x $0.021 = $3.15; x2
        ("duplicates", "reports"): Decimal("6.30"),
        # faq: 20 bodies x 3 sends within 50 min -> 40 repeats x $0.035 = $1.40; x2.
        # The 10 bodies sent again 2 h later are past the 1 h window: not counted.
        ("duplicates", "faq"): Decimal("2.80"),
        # nightly: 100 calls x ($0.021 - $0.0105) = $1.05; x2
        ("batch", "nightly"): Decimal("2.10"),
        # reports after the cache: 50 calls still sent x $0.0105 = $0.525; x2
        ("batch", "reports"): Decimal("1.05"),
    }
    # 6.30 + 2.80 + 2.10 + 1.05
    assert advice.monthly_saving == Decimal("12.25")
    assert [r.monthly_saving for r in advice.recommendations] == sorted(
        (r.monthly_saving for r in advice.recommendations), reverse=True
    )


def test_the_traps_are_considered_not_recommended(database: str, catalog: Catalog) -> None:
    advice = advice_of(database, catalog)
    considered = {(c.kind, c.where["feature"]): c for c in advice.considered}
    assert considered[("batch", "chat")].reason == (
        "all 100 calls stream: someone is waiting for the answer"
    )
    assert "stream" in considered[("batch", "faq")].reason
    # tiny: 1,000 in x 0.075/1M + 100 out x 0.30/1M = $0.000105 saved in 15 days; x2
    assert considered[("batch", "tiny")].monthly_saving == Decimal("0.00021")
    assert "below the floor of $1.00" in considered[("batch", "tiny")].reason
    assert ("batch", "chat") not in savings_by_kind_and_feature(advice)
    faq = next(r for r in advice.recommendations if r.where["feature"] == "faq")
    assert "10 identical requests came after the window ended: not counted" in faq.assumptions
    assert faq.confidence.level == "medium" and faq.calls == 40


def test_combined_saving_is_not_the_sum(database: str, catalog: Catalog) -> None:
    with open_store(database) as store:
        alone = advise(store, catalog, SINCE, UNTIL, recommenders=[batch_recommender])
    # reports alone: 200 calls x $0.0105 = $2.10; x2 = $4.20
    assert savings_by_kind_and_feature(alone)[("batch", "reports")] == Decimal("4.20")
    both = advice_of(database, catalog)
    reports = [r for r in both.recommendations if r.where["feature"] == "reports"]
    # combined: standard 200 x 0.021 = 4.20 minus 50 firsts at batch 50 x 0.0105 = 0.525
    # -> 3.675 in 15 days, $7.35 a month; the sum 6.30 + 4.20 = 10.50 would count twice
    assert sum(r.monthly_saving for r in reports) == Decimal("7.35")
    batch = next(r for r in reports if r.kind == "batch")
    assert batch.confidence.level == "medium" and batch.calls == 200
    assert len(batch.call_ids) == 10


def test_the_floor(database: str, catalog: Catalog) -> None:
    advice = advice_of(database, catalog, floor=Decimal("1.10"))
    assert ("batch", "reports") not in savings_by_kind_and_feature(advice)
    left = next(c for c in advice.considered if c.where["feature"] == "reports")
    assert left.monthly_saving == Decimal("1.05")
    assert advice.monthly_saving == Decimal("11.20")  # 12.25 - 1.05


def test_a_wider_window_counts_the_later_repeats(database: str, catalog: Catalog) -> None:
    three_hours = duplicates_within(dt.timedelta(hours=3))
    with open_store(database) as store:
        advice = advise(store, catalog, SINCE, UNTIL, recommenders=[three_hours])
    # faq: 40 + 10 repeats x $0.035 = $1.75; x2
    assert savings_by_kind_and_feature(advice)[("duplicates", "faq")] == Decimal("3.50")


def test_streaming_signal_and_repeated_bodies(database: str, catalog: Catalog) -> None:
    with open_store(database) as store:
        period = load_period(store, SINCE, UNTIL)
        repeated = repeated_calls(period)
    streamed = {cell.feature for cell in period.cells if cell.streamed}
    assert streamed == {"chat", "faq"}
    # faq: 20 bodies x 3 + 10 x 2 = 80; reports: 50 bodies x 4 = 200
    by_feature = Counter(period.cells[r.cell].feature for r in repeated)
    assert by_feature == {"faq": 80, "reports": 200}
    # every call of the period is in one cell: 100 + 100 + 80 + 200 + 1
    assert sum(cell.calls for cell in period.cells) == 481


def test_an_empty_ledger_advises_nothing(tmp_path: Path, catalog: Catalog) -> None:
    with open_store(f"sqlite:///{tmp_path / 'empty.sqlite3'}") as store:
        advice = advise(store, catalog, SINCE, UNTIL)
    assert advice.recommendations == () and advice.monthly_saving == 0


def _cli(database: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *extra: str) -> str:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("LLMTALLY_HOME", str(tmp_path / "home"))
    args = ["advise", "--since", SINCE.isoformat(), "--until", UNTIL.isoformat()]
    done = CliRunner().invoke(app, [*args, "--database", database, *extra])
    assert done.exit_code == 0, done.output
    return done.output


def test_cli_table_fits_80_columns(
    database: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    out = _cli(database, monkeypatch, tmp_path)
    assert max(len(line) for line in out.splitlines()) <= 80
    for text in ("$6.30", "$2.80", "$2.10", "$1.05", "$12.25", "high", "medium"):
        assert text in out
    assert "client.batches.create" in out and "completion_window" in out
    assert "chat" in out  # the trap, under considered


def test_cli_with_nothing_above_the_floor_prints_no_empty_table(
    database: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    out = _cli(database, monkeypatch, tmp_path, "--floor", "1000")
    assert out.startswith("nothing to recommend above the floor in this period")
    assert "all together" not in out and "considered, not recommended" in out


def test_cli_json(database: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    data = json.loads(_cli(database, monkeypatch, tmp_path, "--json", "--floor", "1.10"))
    assert data["floor"] == "1.1" and data["monthly_saving"] == "11.2"
    first = data["recommendations"][0]
    assert (first["kind"], first["where"]["feature"], first["monthly_saving"]) == (
        "duplicates", "reports", "6.3",
    )  # fmt: skip
    assert first["period_saving"] == "3.15" and first["confidence"]["level"] == "high"
    assert first["evidence"]["feature"] == "reports" and len(first["call_ids"]) == 10
    chat = [c for c in data["considered"] if c["where"]["feature"] == "chat"]
    assert chat == [
        {
            "kind": "batch",
            "where": {"feature": "chat", "provider": "openai", "model": "gpt-4o-mini"},
            "reason": "all 100 calls stream: someone is waiting for the answer",
            "monthly_saving": None,
        }
    ]


def test_bad_options_say_why(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LLMTALLY_HOME", str(tmp_path / "home"))
    done = CliRunner().invoke(app, ["advise", "--floor", "x", "--database", "sqlite://"])
    assert done.exit_code == 2 and "--floor" in done.output


def test_advise_reads_calls_only_for_sample_ids(database: str, catalog: Catalog) -> None:
    """The whole advisor (every recommender, realised savings) reads the ledger's
    sums; the calls themselves only in bounded queries for sample ids (a LIMIT),
    so its time does not grow with the calls of the period."""
    reads_calls = re.compile(r"\b(FROM|JOIN)\s+calls\b", re.IGNORECASE)
    ran: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        ran.append(statement)

    with open_store(database) as store:
        event.listen(store.engine, "before_cursor_execute", seen)
        advice = advise(store, catalog, SINCE, UNTIL)
        event.remove(store.engine, "before_cursor_execute", seen)
    assert advice.recommendations  # the planted ledger's (see above)
    on_calls = [s for s in ran if reads_calls.search(s)]
    assert on_calls and all(re.search(r"\bLIMIT\b", s) for s in on_calls), on_calls
