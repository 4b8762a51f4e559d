"""The advisor compares like with like across currencies, and keeps ``output_above``.

On two synthetic price files, one in USD and one in CNY, with a rates file of
one round rate (1 USD = 8 CNY on 2026-01-01, so 1 CNY = 0.125 USD exactly):

- ``advisor.repricing`` settles a cliff's prompt bound but keeps its output
  bound (``output_above``), and converts the CNY target's cost to USD at the
  group's day before it is set against the ledger's USD cost; a day with no
  rate leaves the group out as unpriced;
- ``advisor.working.Working.price`` (every recommender's saving) and
  ``advisor.verify_saving.reprice`` (``advise verify``) convert the same way.

Every amount is worked by hand in the comments from the per-1M prices below.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from currency_support import use_rates
from llmtally.advisor.cells import Cell, Roles
from llmtally.advisor.realised_sql import UsageGroup
from llmtally.advisor.repricing import reprice
from llmtally.advisor.verify_saving import reprice as verify_reprice
from llmtally.advisor.working import Working, to_model
from llmtally.catalog import Catalog
from llmtally.ledger.rows import USAGE_COUNTS
from llmtally.usage import Call, ServiceTier, Usage

US = """\
provider: acme-us
name: ACME US
pricing_url: https://acme.example/pricing
models:
  - id: big
    prices:
      - source: https://acme.example/pricing
        input: "10"
        output: "20"
"""

# Volcengine's doubao-seed-1.8 shape: output over 200 tokens re-priced at 8, not 2.
CN = """\
provider: acme-cn
name: ACME CN
pricing_url: https://acme.example/cn
currency: CNY
models:
  - id: seedish
    prices:
      - source: https://acme.example/cn
        input: "1"
        output: "2"
        long_context:
          - {above: 0, output_above: 200, output: "8"}
"""

RATES = """\
rates:
  - {date: 2026-01-01, base: USD, quote: CNY, rate: "8", source: "test rate"}
"""

DAY = dt.date(2026, 12, 7)
NOON = dt.datetime(2026, 12, 7, 12, tzinfo=dt.UTC)


@pytest.fixture
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Catalog:
    folder = tmp_path / "prices"
    folder.mkdir()
    (folder / "acme_us.yaml").write_text(US)
    (folder / "acme_cn.yaml").write_text(CN)
    use_rates(tmp_path, RATES, monkeypatch)
    return Catalog.load(builtin=folder)


def _group(day: dt.date, calls: int, inp: int, out: int, paid: str) -> UsageGroup:
    counts = dict.fromkeys(USAGE_COUNTS, 0)
    counts.update(requests=calls, input_tokens=inp, output_tokens=out)
    return UsageGroup(
        provider="acme-us",
        model="big",
        tier="standard",
        day=day,
        slot=0,
        min_input=inp // calls,
        audio_seconds=None,
        images=(),
        calls=calls,
        counts=counts,
        cost=Decimal(paid),
    )


def _to_cn(_: UsageGroup) -> tuple[str, str, ServiceTier]:
    return "acme-cn", "seedish", "standard"


def test_repricing_keeps_the_output_bound_and_converts_to_usd(catalog: Catalog) -> None:
    # 2 calls, 200 input, 300 output (150 a call, not over 200): on acme-us
    # 200 x 10/1M + 300 x 20/1M = 0.002 + 0.006 = 0.008 USD (as the ledger holds it).
    # On acme-cn the output cliff is not crossed: 200 x 1/1M + 300 x 2/1M
    # = 0.0002 + 0.0006 = 0.0008 CNY = 0.0008 x 0.125 = 0.0001 USD.
    # (Dropping output_above would bill 300 x 8/1M: 0.0026 CNY = 0.000325 USD.)
    short = reprice([_group(DAY, 2, 200, 300, "0.008")], catalog, _to_cn, [])
    assert (short.calls, short.unpriced) == (2, 0)
    assert short.actual == Decimal("0.008")
    assert short.counterfactual == Decimal("0.0001")
    assert short.saving == Decimal("-0.0079")
    # 2 calls with 1,000 output (500 a call, over 200): 200 x 1/1M + 1,000 x 8/1M
    # = 0.0002 + 0.008 = 0.0082 CNY = 0.0082 x 0.125 = 0.001025 USD
    long = reprice([_group(DAY, 2, 200, 1000, "0.0224")], catalog, _to_cn, [])
    assert long.counterfactual == Decimal("0.001025")


def test_repricing_leaves_out_a_day_with_no_rate(catalog: Catalog) -> None:
    # The shipped table starts 2014-10-24 and the test rate 2026-01-01: no
    # CNY->USD rate on or before 2010-01-04, so the CNY amount is never summed.
    found = reprice([_group(dt.date(2010, 1, 4), 3, 300, 300, "0.009")], catalog, _to_cn, [])
    assert (found.calls, found.unpriced) == (0, 3)
    assert found.actual == found.counterfactual == Decimal(0)


def _cell(usage: Usage, calls: int) -> Cell:
    return Cell(
        id=1,
        feature="chat",
        provider="acme-us",
        model="big",
        tier="standard",
        streamed=False,
        batchable=False,
        day=DAY,
        first=NOON,
        last=NOON,
        calls=calls,
        usage=usage,
        prompt_tokens=usage.input_tokens // calls,
        roles=Roles(),
        cost=Decimal(0),
        unpriced=0,
        key=(),
    )


def test_a_working_saving_between_usd_and_cny_is_in_usd(catalog: Catalog) -> None:
    usage = Usage(input_tokens=4000, output_tokens=1000, requests=4)
    working = Working([_cell(usage, 4)], catalog)
    state = working.state(1)
    # acme-us: 4,000 x 10/1M + 1,000 x 20/1M = 0.04 + 0.02 = 0.06 USD
    assert working.price(1, state) == Decimal("0.06")
    # acme-cn: 250 output a call is over 200: 4,000 x 1/1M + 1,000 x 8/1M
    # = 0.004 + 0.008 = 0.012 CNY = 0.012 x 0.125 = 0.0015 USD
    moved = to_model("acme-cn", "seedish")
    assert working.price(1, moved(state)) == Decimal("0.0015")
    # saving: 0.06 - 0.0015 = 0.0585 USD (not 0.06 - 0.012 = 0.048)
    assert working.saving([(1, moved)]) == Decimal("0.0585")


def test_a_working_state_with_no_rate_saves_nothing(
    catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cell = _cell(Usage(input_tokens=1000, output_tokens=100), 1)
    early = dt.datetime(2010, 1, 4, 12, tzinfo=dt.UTC)
    old = Cell(**{**{f: getattr(cell, f) for f in Cell.__dataclass_fields__}, "first": early})
    working = Working([old], catalog)
    moved = to_model("acme-cn", "seedish")
    assert working.price(1, moved(working.state(1))) is None  # no CNY->USD rate in 2010
    assert working.saving([(1, moved)]) == Decimal(0)


def _call(at: dt.datetime, usage: Usage) -> Call:
    return Call(
        id="c1",
        started_at=at,
        provider="acme-us",
        model_requested="big",
        model_served="big",
        endpoint="/v1/chat/completions",
        status=200,
        latency_ms=1.0,
        usage=usage,
    )


def test_verify_reprices_a_cny_candidate_in_usd(catalog: Catalog) -> None:
    usage = Usage(input_tokens=2000, output_tokens=100)
    calls = [_call(NOON, usage), _call(dt.datetime(2010, 1, 4, tzinfo=dt.UTC), usage)]
    found = verify_reprice(calls, catalog, [("cn", "acme-cn", "seedish")], Decimal(1))["cn"]
    # the 2010 call has no CNY->USD rate: unpriced, left out of both sums
    assert (found.calls, found.unpriced) == (1, 1)
    # acme-us: 2,000 x 10/1M + 100 x 20/1M = 0.02 + 0.002 = 0.022 USD
    assert found.current == Decimal("0.022")
    # acme-cn: 100 output is not over 200: 2,000 x 1/1M + 100 x 2/1M
    # = 0.002 + 0.0002 = 0.0022 CNY = 0.0022 x 0.125 = 0.000275 USD
    assert found.candidate == Decimal("0.000275")
