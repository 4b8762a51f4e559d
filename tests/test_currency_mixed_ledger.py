"""One ledger with calls billed in USD and in CNY (issue 17): imported through
``llmtally import`` as a user would, priced by the shipped price files, then the
report and the dashboard in CNY and in USD, on SQLite and PostgreSQL.

Prices (shipped files): openai gpt-4o-mini $0.15 input / $0.60 output per 1M
(openai.yaml); moonshot-cn kimi-k2.5 ¥4.00 input / ¥0.70 cache hit / ¥21.00
output per 1M (moonshot_cn.yaml, platform.moonshot.cn/docs/pricing/chat).

Rates: a test override file with round numbers (not real rates) whose inverses
are exact: 1 USD = 8 CNY on 2026-12-01 and 6.4 CNY on 2026-12-02.

| call | day | model | billed | USD (ledger) | CNY at the day's rate |
| --- | --- | --- | --- | --- | --- |
| u1 | 12-01 10:00 | gpt-4o-mini | 1M in: $0.15 | 0.15 | 0.15 x 8 = 1.20 |
| c1 | 12-01 12:00 | kimi-k2.5 | 1M in: ¥4.00 | 4 / 8 = 0.5 | 4.00 |
| c2 | 12-02 09:00 | kimi-k2.5 | 400k in + 100k hit + 100k out | see below | 4.17 |
| u2 | 12-02 10:00 | gpt-4o-mini | 1M out: $0.60 | 0.60 | 0.60 x 6.4 = 3.84 |

c2 billed (cache hits are part of the 500,000 prompt tokens): 400,000 x 4.00 / 1M
= 1.60; 100,000 x 0.70 / 1M = 0.07; 100,000 x 21.00 / 1M = 2.10; total 3.77 CNY,
in USD 3.77 / 6.4 = 0.5890625.

Totals: USD 0.15 + 0.5 + 0.5890625 + 0.60 = 1.8390625. CNY by day: 12-01
(0.15 + 0.5) x 8 = 5.20; 12-02 (0.5890625 + 0.60) x 6.4 = 7.61; total ¥12.81.
By model in CNY: gpt-4o-mini 1.20 + 3.84 = 5.04; kimi-k2.5 4.00 + 3.77 = 7.77,
what Moonshot billed. By model in USD: gpt-4o-mini 0.75; kimi-k2.5 1.0890625.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from browser_support import fetch
from llmtally.catalog import Catalog
from llmtally.cli import app
from llmtally.ledger import open_store
from llmtally.web import Dashboard
from test_ledger_support import db_url, pg_base_url  # noqa: F401

RATES = """\
rates:
  - {date: 2026-12-01, base: USD, quote: CNY, rate: "8", source: test rate day 1}
  - {date: 2026-12-02, base: USD, quote: CNY, rate: "6.4", source: test rate day 2}
"""
RECORDS = [
    ("u1", "openai", "gpt-4o-mini", "2026-12-01T10:00:00Z", {"input": 1_000_000, "output": 0}),
    ("c1", "moonshot-cn", "kimi-k2.5", "2026-12-01T12:00:00Z", {"input": 1_000_000, "output": 0}),
    (
        "c2",
        "moonshot-cn",
        "kimi-k2.5",
        "2026-12-02T09:00:00Z",
        {"input": 500_000, "cache_read": 100_000, "output": 100_000},
    ),
    ("u2", "openai", "gpt-4o-mini", "2026-12-02T10:00:00Z", {"input": 0, "output": 1_000_000}),
]
RANGE = ["--since", "2026-12-01", "--until", "2026-12-03"]
NOW = dt.datetime(2026, 12, 2, 18, 0, tzinfo=dt.UTC)


@pytest.fixture
def ledger(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:  # noqa: F811
    rates = tmp_path / "rates.yaml"
    rates.write_text(RATES, encoding="utf-8")
    monkeypatch.setenv("LLMTALLY_RATES", str(rates))
    monkeypatch.delenv("LLMTALLY_CURRENCY", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("LLMTALLY_HOME", str(home))
    source = tmp_path / "history.jsonl"
    lines = [
        {"id": i, "provider": p, "model": m, "started_at": at, "tokens": t}
        for i, p, m, at, t in RECORDS
    ]
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = CliRunner().invoke(
        app, ["import", "jsonl", str(source), "--database", db_url, "--home", str(home)]
    )
    assert result.exit_code == 0, result.output
    return db_url


def _report(url: str, *args: str) -> dict[str, Any]:
    result = CliRunner().invoke(
        app, ["report", *RANGE, "--database", url, "--format", "json", *args]
    )
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data


def test_the_ledger_keeps_what_moonshot_billed_beside_the_usd(ledger: str) -> None:
    result = CliRunner().invoke(app, ["calls", "--database", ledger, "--json", "--limit", "10"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    rows = {r["model_requested"] + "@" + r["started_at"][8:10]: r for r in found}
    c1, c2 = rows["kimi-k2.5@01"], rows["kimi-k2.5@02"]
    assert (c2["billed"]["amount"], c2["billed"]["currency"]) == ("3.77", "CNY")
    # USD = billed / (CNY per USD): 3.77 / 6.4 = 0.5890625; 4 / 8 = 0.5
    assert (c2["cost_usd"], c2["billed"]["fx_date"]) == ("0.5890625", "2026-12-02")
    assert (c1["billed"]["amount"], c1["cost_usd"]) == ("4", "0.5")
    assert rows["gpt-4o-mini@01"]["billed"] is None
    assert rows["gpt-4o-mini@01"]["cost_usd"] == "0.15"


def test_the_report_in_usd_adds_the_converted_cny_calls(ledger: str) -> None:
    data = _report(ledger, "--by", "model")
    rows = {row["key"]: row for row in data["rows"]}
    assert rows["gpt-4o-mini"]["cost_total"] == "0.75"
    # c1 4 / 8 = 0.5; c2 3.77 / 6.4 = 0.5890625
    assert rows["kimi-k2.5"]["cost_total"] == "1.0890625"
    assert data["total"]["cost_total"] == "1.8390625"


def test_the_report_in_cny_gives_back_what_was_billed_in_cny(ledger: str) -> None:
    data = _report(ledger, "--by", "model", "--currency", "CNY")
    rows = {row["key"]: row for row in data["rows"]}
    # kimi-k2.5: 0.5 x 8 + 0.5890625 x 6.4 = 4 + 3.77 = 7.77, Moonshot's own figure
    assert rows["kimi-k2.5"]["cost_total"] == {"amount": "7.77", "currency": "CNY"}
    # gpt-4o-mini: 0.15 x 8 + 0.60 x 6.4 = 1.2 + 3.84 = 5.04
    assert rows["gpt-4o-mini"]["cost_total"] == {"amount": "5.04", "currency": "CNY"}
    assert data["total"]["cost_total"] == {"amount": "12.81", "currency": "CNY"}
    assert {(r["date"], r["rate"]) for r in data["rates"]} >= {
        ("2026-12-01", "8"),
        ("2026-12-02", "6.4"),
    }


def _text(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</(a|span|td)>', page, re.S)
    assert found is not None, element_id
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def test_the_dashboard_in_cny_and_in_usd(ledger: str) -> None:
    with open_store(ledger) as store:
        web = Dashboard(store, Catalog.load(), clock=lambda: NOW)
        cny = fetch(web, "/?currency=CNY").text
        usd = fetch(web, "/").text
        explorer = fetch(web, "/calls?since=2026-12-01&currency=CNY").text
        web.close()
    # today (12-02): (0.5890625 + 0.60) x 6.4 = 7.61; month to date 5.20 + 7.61 = 12.81
    assert _text(cny, "spend-today") == "¥7.61"
    assert _text(cny, "spend-mtd") == "¥12.81"
    # USD: today 0.5890625 + 0.60 = 1.1890625 -> $1.19; month 1.8390625 -> $1.84
    assert _text(usd, "spend-today") == "$1.19"
    assert _text(usd, "spend-mtd") == "$1.84"
    assert _text(explorer, "total-cost") == "¥12.81"
    # c2 in the explorer: 0.5890625 x 6.4 = 3.77 exactly, on hover too
    assert '<span class="money" title="¥3.77 CNY">¥3.77</span>' in explorer
