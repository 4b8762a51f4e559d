"""A call billed in CNY: its USD parts sum exactly to its USD total (issue 17,
``llmtally.currency.pivot``).

The ledger converts the billed total (``cost_total``) and each part (``cost_input``
...) at the call's rate and rounds each to its 10 places (half-even); the residue
(the rounded total minus the sum of the rounded parts) goes to the largest part,
so a ``Cost`` read back (whose ``total`` is the sum of its parts) shows the stored
``cost_total``. Every figure below is worked by hand; ``u`` is one unit of the
ledger's last place, 1e-10.

A test rate (not a real one), 1 CNY = 0.15 USD, gives half-even ties:

- +1: input ¥0.3600000070 x 0.15 = 0.054000001050 = 540000010.5 u -> 540000010 u
  (even); output ¥0.0720000030 x 0.15 = 0.010800000450 = 108000004.5 u -> 108000004 u;
  total ¥0.4320000100 x 0.15 = 0.064800001500 = 648000015 u exactly. Parts
  540000010 + 108000004 = 648000014 u: residue +1 u, to the input (the largest):
  0.0540000011 + 0.0108000004 = 0.0648000015.
- -1: input ¥0.3600000050 x 0.15 = 0.054000000750 = 540000007.5 u -> 540000008 u
  (even); output ¥0.0720000010 x 0.15 = 0.010800000150 = 108000001.5 u -> 108000002 u;
  total ¥0.4320000060 x 0.15 = 0.064800000900 = 648000009 u. Parts 540000010 u:
  residue -1 u, to the input: 0.0540000007 + 0.0108000002 = 0.0648000009.

The shipped CFETS rate (2025-02-25, 7.1726 CNY per USD, so 1 CNY =
0.1394194573794718790954465605 USD to 28 digits, bc -l: 1/7.1726) on
alibaba-cn qwen-plus (¥0.8 input, ¥2 output per 1M tokens, alibaba_cn.yaml,
https://help.aliyun.com/zh/model-studio/model-pricing), products by bc -l
(scale 28):

- 1,002 in, 137 out: ¥0.0008016 + ¥0.000274 = ¥0.0010756.
  0.0008016 x r = 0.00011175863|70... -> 0.0001117586;
  0.000274 x r = 0.00003820093|13... -> 0.0000382009;
  0.0010756 x r = 0.00014995956|83... -> 0.0001499596.
  Parts 0.0001499595: residue +1 u -> input 0.0001117587.
- 1,200 in, 302 out: ¥0.00096 + ¥0.000604 = ¥0.001564.
  0.00096 x r = 0.00013384267|90... -> 0.0001338427;
  0.000604 x r = 0.00008420935|22... -> 0.0000842094;
  0.001564 x r = 0.00021805203|13... -> 0.0002180520.
  Parts 0.0002180521: residue -1 u -> input 0.0001338426.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from currency_support import chat_call, use_rates
from llmtally.catalog import Catalog
from llmtally.cli import app
from llmtally.currency.pivot import pivot_row
from llmtally.ledger import open_store
from llmtally.ledger.schema import calls
from llmtally.usage import Usage
from test_ledger_support import db_url, pg_base_url  # noqa: F401

MONEY = (
    "cost_input",
    "cost_cache_read",
    "cost_cache_write",
    "cost_output",
    "cost_reasoning",
    "cost_audio",
    "cost_images",
    "cost_request",
    "cost_total",
    "saved_cache",
    "saved_tier",
)
PARTS = MONEY[:8]
DAY = dt.date(2026, 12, 1)
TEST_RATE = """\
rates:
  - {date: 2026-12-01, base: CNY, quote: USD, rate: "0.15", source: "test rate, not real"}
"""
CFETS = "http://china.org.cn/china/Off_the_Wire/2025-02/25/content_117731713.htm"
CFETS_RATE = "0.1394194573794718790954465605"


def _row(cny_input: str, cny_output: str, cny_total: str) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(MONEY, Decimal(0))
    row.update(saved_cache=None, saved_tier=None, price_id="testcny/chat@launch")
    row.update(cost_input=Decimal(cny_input), cost_output=Decimal(cny_output))
    row["cost_total"] = Decimal(cny_total)
    return row


def _parts_sum(row: dict[str, Any]) -> Decimal:
    return sum((row[name] for name in PARTS), Decimal(0))


@pytest.mark.parametrize(
    ("billed", "usd_input", "usd_output", "usd_total"),
    [
        # residue +1 u (see the module's docstring)
        (("0.3600000070", "0.0720000030", "0.4320000100"), "0.0540000011", "0.0108000004",
         "0.0648000015"),
        # residue -1 u
        (("0.3600000050", "0.0720000010", "0.4320000060"), "0.0540000007", "0.0108000002",
         "0.0648000009"),
    ],
)  # fmt: skip
def test_the_rounding_residue_goes_to_the_largest_part(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    billed: tuple[str, str, str],
    usd_input: str,
    usd_output: str,
    usd_total: str,
) -> None:
    use_rates(tmp_path, TEST_RATE, monkeypatch)
    row = _row(*billed)
    pivot_row(row, MONEY, "CNY", DAY)
    assert row["cost_total"] == Decimal(usd_total)
    assert (row["cost_input"], row["cost_output"]) == (Decimal(usd_input), Decimal(usd_output))
    assert _parts_sum(row) == row["cost_total"]
    assert row["cost_cache_read"] == Decimal(0) and row["saved_cache"] is None
    assert (row["billed_total"], row["fx_rate"]) == (Decimal(billed[2]), "0.15")


def test_no_residue_leaves_the_parts_as_rounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_rates(tmp_path, TEST_RATE, monkeypatch)
    # ¥0.36 x 0.15 = 0.054; ¥0.072 x 0.15 = 0.0108; ¥0.432 x 0.15 = 0.0648: exact
    row = _row("0.36", "0.072", "0.432")
    row["saved_cache"] = Decimal("0.0000000030")  # 30 u x 0.15 = 4.5 u -> 4 u (even)
    pivot_row(row, MONEY, "CNY", DAY)
    assert (row["cost_input"], row["cost_output"]) == (Decimal("0.054"), Decimal("0.0108"))
    assert row["cost_total"] == Decimal("0.0648")
    assert row["saved_cache"] == Decimal("0.0000000004")  # rounded on its own


# -- through the ledger and back ------------------------------------------------------


@pytest.fixture
def shipped_rates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped rate table alone: an empty data folder, no override file."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("LLMTALLY_HOME", str(home))
    monkeypatch.delenv("LLMTALLY_RATES", raising=False)


@pytest.mark.parametrize(
    ("tokens", "usd_input", "usd_output", "usd_total", "billed"),
    [
        ((1_002, 137), "0.0001117587", "0.0000382009", "0.0001499596", "0.0010756"),  # +1 u
        ((1_200, 302), "0.0001338426", "0.0000842094", "0.0002180520", "0.001564"),  # -1 u
    ],
)
@pytest.mark.usefixtures("shipped_rates")
def test_a_qwen_call_read_back_sums_to_its_stored_total(
    db_url: str,  # noqa: F811
    tokens: tuple[int, int],
    usd_input: str,
    usd_output: str,
    usd_total: str,
    billed: str,
) -> None:
    at = dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC)
    price = Catalog.load().price_at("alibaba-cn", "qwen-plus", at)
    usage = Usage(input_tokens=tokens[0], output_tokens=tokens[1])
    call = chat_call("alibaba-cn", "qwen-plus", price, at, usage)
    with open_store(db_url) as store:
        store.insert_many([call])
        with store.engine.connect() as conn:
            stored = conn.execute(select(calls).where(calls.c.id == call.id)).mappings().one()
        back = store.get(call.id)
    assert (stored["billed_currency"], stored["billed_total"]) == ("CNY", Decimal(billed))
    assert (stored["fx_rate"], stored["fx_source"]) == (CFETS_RATE, CFETS)
    assert stored["cost_total"] == Decimal(usd_total)
    assert stored["cost_input"] == Decimal(usd_input)
    assert stored["cost_output"] == Decimal(usd_output)
    assert back is not None and back.cost is not None
    assert back.cost.total == Decimal(usd_total)  # the sum of the parts read back
    assert (back.cost.input, back.cost.output) == (Decimal(usd_input), Decimal(usd_output))
    # `llmtally calls show ID --json`: cost_usd is the stored total
    result = CliRunner().invoke(app, ["calls", "show", call.id, "--json", "--database", db_url])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert Decimal(data["cost_usd"]) == Decimal(usd_total)
    assert data["billed"]["amount"] == billed and data["billed"]["currency"] == "CNY"
