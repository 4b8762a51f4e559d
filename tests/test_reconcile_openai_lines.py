"""OpenAI cost lines that name a model (issue 14): the Costs API grouped by line item
(https://platform.openai.com/docs/api-reference/usage/costs) writes ``line_item``
as "<model>, <token kind>" ("gpt-4o-mini-2024-07-18, input", "..., cached input",
"..., output"; tests/fixtures/reconcile/openai_costs.jsonl). The model is stored,
so OpenAI cells get a billed amount per model and kind and the price explainers
run on them; lines that name no model are compared per day, as before.

Prices (the built-in catalog, USD per 1M tokens): openai/gpt-4o-mini input 0.15,
cached input 0.075, output 0.60; openai/gpt-4o-2024-08-06 input 2.50, output 10.00.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select, update

from llmtally.catalog import Catalog
from llmtally.ledger import Store
from llmtally.pricing import price_usage
from llmtally.reconcile.compare import Reconciliation, reconcile
from llmtally.reconcile.load import import_page
from llmtally.reconcile.tables import provider_costs
from llmtally.usage import Call, Usage
from reconcile_synthetic import (
    openai_costs_page,
    openai_model_costs_page,
    openai_usage_page,
    seen,
)
from test_ledger_support import db_url, pg_base_url, store  # noqa: F401

SINCE = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
UNTIL = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
CATALOG = Catalog.load()
D = Decimal
MINI, MINI_DATED = "gpt-4o-mini", "gpt-4o-mini-2024-07-18"
GPT4O = "gpt-4o-2024-08-06"


def _day(n: int) -> dt.date:
    return dt.date(2026, 11, n)


def _call(call_id: str, day: int, model: str, usage: Usage, served: str | None = None) -> Call:
    started = dt.datetime(2026, 11, day, 12, tzinfo=dt.UTC)
    priced = price_usage(usage, CATALOG, "openai", served or model, started)
    return Call(
        id=call_id,
        started_at=started,
        provider="openai",
        model_requested=model,
        model_served=served,
        endpoint="/v1/chat/completions",
        status=200,
        latency_ms=100.0,
        usage=usage,
        cost=priced.cost,
        cost_error=priced.reason,
    )


# Day 3: m1, uncached 800,000 x 0.15 = 0.12; cached 200,000 x 0.075 = 0.015; output
# 100,000 x 0.60 = 0.06 -> $0.195. g1: 100,000 x 2.50 = 0.25; 10,000 x 10 = 0.10 -> $0.35.
M1 = _call(
    "m1",
    3,
    MINI,
    Usage(input_tokens=1_000_000, cache_read_tokens=200_000, output_tokens=100_000),
    served=MINI_DATED,
)
G1 = _call("g1", 3, "gpt-4o", Usage(input_tokens=100_000, output_tokens=10_000), served=GPT4O)
DAY3_LINES = {
    (_day(3), MINI_DATED): {"input": D("0.12"), "cached input": D("0.015"), "output": D("0.06")},
    (_day(3), GPT4O): {"input": D("0.25"), "output": D("0.10")},
}
# gpt-4o-mini, 1,000,000 in / 100,000 out: 0.15 + 0.06 = $0.21 at the catalog's price.
# From day 27 the bill is 10% higher, which the catalog lacks: input 0.165 per 1M,
# output 0.66: day 27 0.165 + 0.066 = $0.231; day 28 twice the tokens (ledger 0.42),
# billed 0.33 + 0.132 = $0.462.
DAY = Usage(input_tokens=1_000_000, output_tokens=100_000)
TWICE = Usage(input_tokens=2_000_000, output_tokens=200_000)
MINIS = [_call("n0", 10, MINI, DAY), _call("n1", 27, MINI, DAY), _call("n2", 28, MINI, TWICE)]
DRIFT_LINES = {
    (_day(10), MINI_DATED): {"input": D("0.15"), "output": D("0.06")},
    (_day(27), MINI_DATED): {"input": D("0.165"), "output": D("0.066")},
    (_day(28), MINI_DATED): {"input": D("0.33"), "output": D("0.132")},
}


def _result(ledger: Store) -> Reconciliation:
    return reconcile(ledger, CATALOG, SINCE, UNTIL)


def _stored(ledger: Store) -> list[tuple[str | None, str | None, str]]:
    c = provider_costs.c
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(c.line_item, c.model, c.source).order_by(c.line_item))
        return [(r.line_item, r.model, r.source) for r in rows]


def test_the_ledger_prices_the_calls_as_the_comments_say() -> None:
    costs = [c.cost.total if c.cost else None for c in (M1, G1, *MINIS)]
    assert costs == [D("0.195"), D("0.35"), D("0.21"), D("0.21"), D("0.42")]


def test_the_model_is_stored_from_the_line_item(store: Store) -> None:  # noqa: F811
    page = openai_model_costs_page(DAY3_LINES, unnamed={_day(3): D("0.01")})
    import_page(store, "openai", "costs", page, "costs.json")
    assert [(line, model) for line, model, _ in _stored(store)] == [
        ("gpt-4o-2024-08-06, input", GPT4O),
        ("gpt-4o-2024-08-06, output", GPT4O),
        ("gpt-4o-mini-2024-07-18, cached input", MINI_DATED),
        ("gpt-4o-mini-2024-07-18, input", MINI_DATED),
        ("gpt-4o-mini-2024-07-18, output", MINI_DATED),
        ("web search tool calls", None),
    ]


def test_openai_cells_get_their_billed_amount_per_model_and_kind(store: Store) -> None:  # noqa: F811
    store.insert_many([M1, G1])
    import_page(store, "openai", "usage:completions", openai_usage_page(seen([M1, G1], "k")), "t")
    import_page(store, "openai", "costs", openai_model_costs_page(DAY3_LINES), "t")
    result = _result(store)
    got = {c.model: (result.cell_billed(c), dict(c.billed_lines)) for c in result.cells()}
    assert got == {
        # the report's gpt-4o-mini-2024-07-18 meets the ledger's gpt-4o-mini (catalog id)
        MINI: (
            D("0.195"),  # 0.12 + 0.015 + 0.06
            {"uncached_input": D("0.12"), "cache_read": D("0.015"), "output": D("0.06")},
        ),
        GPT4O: (D("0.35"), {"uncached_input": D("0.25"), "output": D("0.10")}),  # 0.25 + 0.10
    }
    models = {r.label: (r.ledger, r.billed) for r in result.model_rows()}
    assert models == {
        "openai/gpt-4o-2024-08-06": (D("0.35"), D("0.35")),
        "openai/gpt-4o-mini": (D("0.195"), D("0.195")),
    }
    assert result.explanations == []
    assert f"{result.headline().error_percent:.3f}" == "0.000"


def test_a_price_change_on_an_openai_model_is_price_drift(store: Store) -> None:  # noqa: F811
    store.insert_many(MINIS)
    import_page(store, "openai", "usage:completions", openai_usage_page(seen(MINIS, "k")), "t")
    import_page(store, "openai", "costs", openai_model_costs_page(DRIFT_LINES), "t")
    result = _result(store)
    found = [(e.kind, e.day.day, e.model, e.effect) for e in result.explanations]
    assert found == [
        ("price_drift", 27, MINI, D("-0.021")),  # 0.21 x 10% (ledger - billed)
        ("price_drift", 28, MINI, D("-0.042")),  # 0.42 x 10%
    ]
    drift = result.explanations[0]
    assert "price drift from 2026-11-27" in drift.detail
    # billed per kind: 0.165 / 1M input tokens, 0.066 / 0.1M output -> 0.66 per 1M
    assert "input $0.165" in drift.detail and "output $0.66" in drift.detail
    assert drift.extra["drift"]["scale"] == "1.1"  # (0.231 + 0.462) / (0.21 + 0.42)
    assert [(r.label, r.unexplained) for r in result.day_rows()] == [
        ("2026-11-10 openai", D(0)),
        ("2026-11-27 openai", D(0)),
        ("2026-11-28 openai", D(0)),
    ]


def test_days_whose_lines_name_no_model_compare_per_day(store: Store) -> None:  # noqa: F811
    m5 = _call("m5", 5, MINI, DAY)  # 0.21, as the comment above works out
    m6 = _call("m6", 6, MINI, DAY)
    store.insert_many([m5, m6])
    import_page(store, "openai", "usage:completions", openai_usage_page(seen([m5, m6], "k")), "t")
    # day 5: one "completions" line (no model); day 6: model lines and a web search line
    import_page(store, "openai", "costs", openai_costs_page({_day(5): D("0.21")}), "a")
    lines = {(_day(6), MINI_DATED): {"input": D("0.15"), "output": D("0.06")}}
    page = openai_model_costs_page(lines, unnamed={_day(6): D("0.02")})
    import_page(store, "openai", "costs", page, "b")
    result = _result(store)
    cells = {c.day.day: (result.cell_billed(c), c.billed) for c in result.cells()}
    # day 5 has no line of a model; day 6's web search line names none, so the day
    # is still compared as a whole (its model lines are kept: 0.15 + 0.06 = 0.21)
    assert cells == {5: (None, None), 6: (None, D("0.21"))}
    rows = [(r.label, r.billed, r.difference) for r in result.day_rows()]
    # day 6: billed 0.21 + 0.02 = 0.23; ledger 0.21 -> -0.02
    assert rows == [
        ("2026-11-05 openai", D("0.21"), D("0")),
        ("2026-11-06 openai", D("0.23"), D("-0.02")),
    ]


# The group key as stored before the model was read (COST_GROUP_COLUMNS in order:
# project_id, service, line_item, model, cost_type, service_tier, token_type,
# context_window, currency, usage_unit), model NULL.
def _old_key(line_item: str) -> str:
    return f'[null,null,"{line_item}",null,null,null,null,null,"USD",null]'


def _as_imported_before(ledger: Store) -> None:
    c = provider_costs.c
    with ledger.engine.begin() as conn:
        for line_item, _, _ in _stored(ledger):
            assert line_item is not None
            conn.execute(
                update(provider_costs)
                .where(c.line_item == line_item)
                .values(model=None, group_key=_old_key(line_item))
            )


def test_importing_the_same_page_again_is_idempotent(store: Store) -> None:  # noqa: F811
    page = openai_model_costs_page(DAY3_LINES)
    import_page(store, "openai", "costs", page, "costs.json")
    again = import_page(store, "openai", "costs", page, "costs.json")
    assert (again.tally.new, again.tally.already, again.tally.replaced) == (0, 5, 0)
    assert len(_stored(store)) == 5


def test_rows_imported_before_the_model_was_read(store: Store) -> None:  # noqa: F811
    store.insert_many([M1, G1])
    import_page(store, "openai", "usage:completions", openai_usage_page(seen([M1, G1], "k")), "t")
    page = openai_model_costs_page(DAY3_LINES)
    import_page(store, "openai", "costs", page, "old.json")
    _as_imported_before(store)
    assert {model for _, model, _ in _stored(store)} == {None}
    # reconcile reads the model from their line item already
    before = {c.model: _result(store).cell_billed(c) for c in _result(store).cells()}
    assert before == {MINI: D("0.195"), GPT4O: D("0.35")}
    # the same lines imported again, from another file: already there, never a second
    # row, and the stored rows get their model (their source kept)
    again = import_page(store, "openai", "costs", page, "new.json")
    assert (again.tally.new, again.tally.already, again.tally.replaced) == (0, 5, 0)
    stored = _stored(store)
    assert len(stored) == 5
    assert {(model, source) for _, model, source in stored} == {
        (GPT4O, "old.json"),
        (MINI_DATED, "old.json"),
    }
