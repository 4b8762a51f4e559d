"""A rates override file (``LLMTALLY_RATES``) that cannot be used is never silent
where money is recorded: ``llmtally import`` refuses to start, and its summary
counts what the ledger holds (a call left unconverted is unpriced, and says
why); a running gateway logs one warning per distinct problem; a named file that
does not exist is an error for a command and a warning in the gateway; a row
whose rate is off by more than a factor 2 from the shipped one (a row the wrong
way round) is refused.

The price file is a fixture (a provider ``testcny`` billed in CNY, through the
user's override file as a user would give it; not real prices):
``cny-chat`` input 7.1726, cache hit 1.43452, output 14.3452 CNY per 1M tokens;
``cny-one`` 1 CNY per 1M tokens. The shipped rate they are converted at is the
CFETS USD/CNY central parity of 2025-02-25, 1 USD = 7.1726 CNY
(src/llmtally/currency/data/rates.yaml, from
http://china.org.cn/china/Off_the_Wire/2025-02/25/content_117731713.htm); the
USD price of gpt-4o-mini is the shipped catalog's, $0.15 input and $0.60 output
per 1M tokens (https://openai.com/api/pricing/).

Calls imported (``CALLS``), each worked by hand, all on 2025-03-10:

- c1, cny-chat, 2,000 uncached in, 1,000 cached, 500 out: 2,000 x 7.1726 / 1M +
  1,000 x 1.43452 / 1M + 500 x 14.3452 / 1M = 0.0143452 + 0.00143452 +
  0.0071726 = 0.02295232 CNY; / 7.1726 = 0.0032 USD.
- c2, cny-one, 1,000,000 in: 1 CNY; 1 / 7.1726 = 0.13941945737... USD, to the
  ledger's 10 places 0.1394194574.
- c3, gpt-4o-mini (USD), 1,000 in, 500 out: 1,000 x 0.15 / 1M + 500 x 0.60 / 1M
  = 0.00015 + 0.0003 = 0.00045 USD.

All converted: 0.0032 + 0.1394194574 + 0.00045 = 0.1430694574 USD.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from currency_support import use_rates
from gateway_support import live_gateway
from llmtally.cli import app
from llmtally.config import open_catalog
from llmtally.currency import RatesFileError, open_rates
from llmtally.history import import_history
from llmtally.ledger import LedgerWriter, open_store
from llmtally.ledger.schema import calls
from replay_upstream import ReplayUpstream

PRICES = """\
providers:
  - provider: testcny
    name: A provider billed in CNY (a test fixture, not a real price list)
    pricing_url: https://example.invalid/testcny/pricing
    currency: CNY
    models:
      - id: cny-chat
        prices:
          - source: tests/test_rates_file_errors.py (fixture)
            input: "7.1726"
            cache_read: "1.43452"
            output: "14.3452"
      - id: cny-one
        prices:
          - source: tests/test_rates_file_errors.py (fixture)
            input: "1"
            output: "1"
"""
CALLS = [
    {
        "id": "c1",
        "provider": "testcny",
        "model": "cny-chat",
        "started_at": "2025-03-10T12:00:00Z",
        "tokens": {"input": 3000, "cache_read": 1000, "output": 500},
    },
    {
        "id": "c2",
        "provider": "testcny",
        "model": "cny-one",
        "started_at": "2025-03-10T23:59:59Z",
        "tokens": {"input": 1_000_000, "output": 0},
    },
    {
        "id": "c3",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "started_at": "2025-03-10T12:00:00Z",
        "tokens": {"input": 1000, "output": 500},
    },
]
GOOD = (
    "rates:\n  - {date: 2025-03-01, base: USD, quote: CNY, rate: '7.1726', source: 'test: CFETS'}\n"
)
BAD = "rates:\n  - {date: 2025-03-01, base: USD, quote: CNY, rate: seven, source: 'test: typo'}\n"
# 1 USD = 7.1 CNY written the wrong way round: 1 CNY = 7.1 USD
INVERTED = (
    "rates:\n  - {date: 2025-03-01, base: CNY, quote: USD, rate: '7.1', source: 'test: flip'}\n"
)
KEY = {"authorization": "Bearer k"}
SEVEN = "rate: 'seven' is not a number"
ALL_CONVERTED = Decimal("0.1430694574")  # see the table above


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    (folder / "prices.yaml").write_text(PRICES)
    monkeypatch.setenv("LLMTALLY_HOME", str(folder))
    monkeypatch.delenv("LLMTALLY_RATES", raising=False)
    monkeypatch.delenv("LLMTALLY_CURRENCY", raising=False)
    monkeypatch.setenv("COLUMNS", "400")  # each summary line on one line
    return folder


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "calls.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in CALLS))
    return path


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


def _import(db: str, source: Path, *more: str) -> Any:
    return CliRunner().invoke(app, ["import", "jsonl", str(source), "--database", db, *more])


def _costs(db: str) -> dict[str, tuple[Decimal | None, str | None]]:
    with open_store(db) as store, store.engine.connect() as conn:
        rows = conn.execute(select(calls.c.model_requested, calls.c.cost_total, calls.c.cost_error))
        return {row[0]: (row[1], row[2]) for row in rows}


def _replace(path: Path, text: str) -> None:
    """Rewrite ``path`` and move its time on a second, so that a reader that keys
    on the file's time sees the change however coarse the file system's clock."""
    before = path.stat().st_mtime_ns
    path.write_text(text)
    os.utime(path, ns=(before + 1_000_000_000, before + 1_000_000_000))


# -- llmtally import ------------------------------------------------------------------


def test_import_refuses_to_start_with_a_broken_rates_file(
    home: Path, source: Path, db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_rates(tmp_path, BAD, monkeypatch)
    result = _import(db, source)
    assert result.exit_code == 2
    assert f"rates.yaml:2: {SEVEN}" in result.output
    assert "nothing imported" in result.output
    assert _costs(db) == {}


def test_import_refuses_a_named_rates_file_that_does_not_exist(
    home: Path, source: Path, db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nonexistent.yaml"
    monkeypatch.setenv("LLMTALLY_RATES", str(missing))
    result = _import(db, source)
    assert result.exit_code == 2
    assert f"{missing}: no such file (named by LLMTALLY_RATES)" in result.output
    assert _costs(db) == {}


def test_a_rates_file_that_breaks_during_the_import_is_named_with_what_it_left_unpriced(
    home: Path, source: Path, db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the file is read well when the import starts and broken by the time the
    # calls are converted (the check is skipped to stand for that moment)
    use_rates(tmp_path, BAD, monkeypatch)
    monkeypatch.setattr("llmtally.cli.import_cmd._check_rates", lambda home: None)
    result = _import(db, source, "--json")
    assert result.exit_code == 1
    summary = json.loads(result.stdout[: result.stdout.rindex("}") + 1])
    # c1 and c2 priced in CNY, not converted: unpriced; c3 (USD) alone costs 0.00045
    assert (summary["imported"], summary["unpriced"], summary["unconverted"]) == (3, 2, 2)
    assert summary["rates_unpriced"] == 2
    assert summary["rates_error"].endswith(f"rates.yaml:2: {SEVEN}")
    assert summary["cost_usd"] == "0.00045"
    assert "the rates file left 2 calls unpriced" in result.output
    costs = _costs(db)
    assert costs["gpt-4o-mini"] == (Decimal("0.00045"), None)
    assert costs["cny-one"][0] is None and str(costs["cny-one"][1]).endswith(SEVEN)


def test_the_summary_line_names_the_rates_file_and_the_calls_it_left_unpriced(
    home: Path, source: Path, db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_rates(tmp_path, BAD, monkeypatch)
    monkeypatch.setattr("llmtally.cli.import_cmd._check_rates", lambda home: None)
    result = _import(db, source)
    lines = result.stdout.splitlines()
    assert (
        lines[0]
        == "3 imported, 0 already there, 0 skipped, 2 without a price (stored, cost unknown)"
    )
    assert lines[1] == "cost: $0.00045 (llmtally's prices, the rows read)"  # c3 alone
    assert lines[2].startswith("the rates file cannot be used (")
    assert f"rates.yaml:2: {SEVEN}): 2 calls billed in another currency stored without" in lines[2]


def test_re_importing_after_the_fix_counts_what_the_ledger_holds(
    home: Path, source: Path, db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows stored unpriced stay so (importing again adds nothing, and no
    command re-prices a stored call yet): the summary says so instead of counting
    them at today's rates as it did (0.1430694574 for rows that cost nothing)."""
    path = use_rates(tmp_path, BAD, monkeypatch)
    with open_store(db) as store:  # the library does not check first: c1, c2 unpriced
        first = import_history("jsonl", source, store, open_catalog())
    assert (first.unpriced, first.rates_unpriced, first.cost) == (2, 2, Decimal("0.00045"))
    path.write_text(GOOD)
    result = _import(db, source)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert (
        lines[0]
        == "0 imported, 3 already there, 0 skipped, 2 without a price (stored, cost unknown)"
    )
    assert lines[1] == "cost: $0.00045 (llmtally's prices, the rows read)"
    assert lines[2].startswith("2 calls billed in another currency stored without a price")
    # a fresh ledger with the fixed file: every call converted (the table above)
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    again = _import(fresh, source, "--json")
    assert json.loads(again.stdout)["cost_usd"] == str(ALL_CONVERTED)


# -- a named file that does not exist, a row the wrong way round ----------------------


def test_report_refuses_a_named_rates_file_that_does_not_exist(
    home: Path, db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nonexistent.yaml"
    monkeypatch.setenv("LLMTALLY_RATES", str(missing))
    result = CliRunner().invoke(app, ["report", "--currency", "CNY", "--database", db])
    assert result.exit_code == 2
    assert f"{missing}: no such file (named by LLMTALLY_RATES)" in result.output


def test_the_default_rates_file_may_be_absent(home: Path) -> None:
    # <home>/rates.yaml is not there and nothing names a file: the shipped rates
    table = open_rates()
    assert table.latest("USD", "CNY", dt.date(2025, 3, 10)) is not None


def test_a_row_the_wrong_way_round_is_refused_with_the_fix(
    home: Path, source: Path, db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_rates(tmp_path, INVERTED, monkeypatch)
    # shipped on 2025-03-01: CFETS 2025-02-25, 1 CNY = 1 / 7.1726 = 0.139419 USD (6
    # digits); 7.1 / 0.139419 = 50.9 > 2. The other way, 1 / 7.1 = 0.140845 USD:
    # 0.140845 / 0.139419 = 1.01, within a factor 2: the row is USD->CNY.
    expected = (
        "rates.yaml:2: rate: 1 CNY = 7.1 USD is off by more than a factor of 2 from the "
        "shipped rate, 1 CNY = 0.139419 USD (2025-02-25, "
        "http://china.org.cn/china/Off_the_Wire/2025-02/25/content_117731713.htm); "
        "did you mean base: USD, quote: CNY?"
    )
    report = CliRunner().invoke(app, ["report", "--currency", "CNY", "--database", db])
    assert report.exit_code == 2 and expected in report.output.replace("\n", "")
    imported = _import(db, source)
    assert imported.exit_code == 2 and expected in imported.output.replace("\n", "")
    assert _costs(db) == {}


def test_a_rate_far_off_either_way_round_is_refused(tmp_path: Path) -> None:
    # before the shipped table's first day (2014-10-24) the check uses that day:
    # USD->JPY through EUR, 136.64 / 1.2659 = 107.939015720... (bc -l), shown as
    # 107.939. 1 is 1/108 of it; so is its inverse 1: no way round fits
    path = tmp_path / "rates.yaml"
    path.write_text("rates:\n  - {date: 2010-01-04, base: USD, quote: JPY, rate: 1, source: x}\n")
    with pytest.raises(RatesFileError) as err:
        open_rates(env={"LLMTALLY_RATES": str(path)})
    assert "1 USD = 1 JPY is off by more than a factor of 2" in str(err.value)
    assert "1 USD = 107.939 JPY (2014-10-24," in str(err.value)
    assert str(err.value).endswith("; a row says 1 base = rate quote")


def test_a_rate_within_a_factor_2_is_kept(tmp_path: Path) -> None:
    # 1 USD = 14 CNY: 14 / 7.1726 = 1.95, inside the factor 2 (a real move this
    # large is not refused; the check is for rows written the wrong way round)
    path = tmp_path / "rates.yaml"
    path.write_text("rates:\n  - {date: 2025-03-01, base: USD, quote: CNY, rate: 14, source: x}\n")
    table = open_rates(env={"LLMTALLY_RATES": str(path)})
    row = table.latest("USD", "CNY", dt.date(2025, 3, 1))
    assert row is not None and row.rate == Decimal(14)


# -- a running gateway ----------------------------------------------------------------


def _transcript() -> dict[str, Any]:
    """An OpenAI Chat Completions answer
    (https://platform.openai.com/docs/api-reference/chat/object): 1,000 in, 500 out."""
    usage = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "cny-chat",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}
        ],
        "usage": usage,
    }
    return {
        "request": {
            "method": "POST",
            "path": "/v1/chat/completions",
            "json": {"model": "cny-chat"},
        },
        "response": {"status": 200, "headers": {"content-type": "application/json"}, "body": body},
    }


def _warnings(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "llmtally.currency" and r.levelno == logging.WARNING and text in r.getMessage()
    ]


def test_a_gateway_logs_each_rates_file_problem_once(
    home: Path,
    db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="llmtally.currency")
    today = dt.datetime.now(dt.UTC).date().isoformat()
    good = f"rates:\n  - {{date: {today}, base: CNY, quote: USD, rate: '0.14', source: bank}}\n"
    path = use_rates(tmp_path, good, monkeypatch)
    missing = tmp_path / "nonexistent.yaml"
    chat = {"model": "cny-chat", "messages": [{"role": "user", "content": "Hi"}]}
    config: dict[str, Any] = {"routes": [{"match": "*", "upstream": "cn"}]}
    with ReplayUpstream({"chat": _transcript()}) as upstream, open_store(db) as store:
        config["upstreams"] = {
            "cn": {"kind": "openai", "base_url": upstream.url, "provider": "testcny"}
        }
        writer = LedgerWriter(store, tmp_path / "spool.jsonl", flush_interval=0.02)
        with live_gateway(config, open_catalog(), recorder=writer) as (url, _):

            def post() -> None:
                """One call, stored before the next is made (each sees the file as it is)."""
                stored = store.count()
                answer = httpx.post(f"{url}/v1/chat/completions", json=chat, headers=KEY)
                assert answer.status_code == 200, answer.text
                deadline = time.monotonic() + 20
                while store.count() == stored and time.monotonic() < deadline:
                    writer.flush(timeout=1)
                    time.sleep(0.01)

            post()  # 1: priced at the user's rate
            _replace(path, BAD)
            post()  # 2, 3: unpriced, one warning for both
            post()
            monkeypatch.setenv("LLMTALLY_RATES", str(missing))
            post()  # 4, 5: the shipped rates, one warning for both
            post()
        assert writer.close(timeout=20)
        with store.engine.connect() as conn:
            rows = conn.execute(
                select(calls.c.cost_total, calls.c.fx_rate).order_by(calls.c.started_at)
            ).all()
    # billed: 1,000 x 7.1726 / 1M + 500 x 14.3452 / 1M = 0.0071726 + 0.0071726 = 0.0143452 CNY
    # 1: x 0.14 = 0.002008328 USD; 4, 5: / 7.1726 (CFETS 2025-02-25, the shipped
    # table's latest) = 0.002 USD
    assert [r[0] for r in rows] == [
        Decimal("0.002008328"),
        None,
        None,
        Decimal("0.002"),
        Decimal("0.002"),
    ]
    assert len(_warnings(caplog, SEVEN)) == 1
    assert "calls billed in another currency are recorded unpriced" in _warnings(caplog, SEVEN)[0]
    gone = _warnings(caplog, f"{missing}: no such file (named by LLMTALLY_RATES)")
    assert len(gone) == 1 and gone[0].endswith("converting with the shipped rates alone")
