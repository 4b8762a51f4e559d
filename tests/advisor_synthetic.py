"""A synthetic ledger with one planted opportunity per feature, and traps.

The period is the 15 days from ``SINCE``; the advisor scales to 30 days (x2).
Every call is priced by the meter at the built-in catalog, as the gateway would.

- nightly, gpt-4o-mini, 100 calls, not streamed, no bodies: batch.
- chat, gpt-4o-mini, 100 calls, streamed (ttft_ms): trap, batch (it streams).
- faq, gpt-4o, 80 calls, streamed: 20 bodies x 3 sends within 50 min
  (duplicates: 40 repeats); 10 bodies x 2 sends 2 h apart (trap: past the window).
- reports, gpt-4o-mini, 200 calls, not streamed: 50 bodies x 4 sends within
  45 min at temperature 0: duplicates and batch, combined.
- tiny, gpt-4o-mini, 1 call, not streamed: trap, batch saves less than the floor.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal

from llmtally.advisor import Advice, advise
from llmtally.catalog import Catalog
from llmtally.ledger import Store, open_store
from llmtally.ledger.rows import CallBodies
from llmtally.pricing import price_usage
from llmtally.usage import Call, Usage

SINCE = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
UNTIL = SINCE + dt.timedelta(days=15)
BIG = Usage(input_tokens=100_000, output_tokens=10_000)  # gpt-4o-mini: $0.021 a call
SMALL = Usage(input_tokens=10_000, output_tokens=1_000)  # gpt-4o: $0.035 a call
TINY = Usage(input_tokens=1_000, output_tokens=100)


@dataclass
class LedgerBuilder:
    """Calls and bodies to insert, each call priced with ``catalog``."""

    catalog: Catalog
    calls: list[Call] = field(default_factory=list)
    bodies: list[CallBodies] = field(default_factory=list)

    def add(
        self,
        feature: str,
        model: str,
        at: dt.datetime,
        usage: Usage,
        *,
        streamed: bool = False,
        body: dict[str, object] | None = None,
        tags: tuple[str, ...] = (),
        provider: str = "openai",
        system: tuple[str, int] | None = None,
    ) -> str:
        """``system``: the system prompt's (fingerprint, tokens), as the gateway records."""
        call_id = f"{feature}-{len(self.calls):04d}"
        priced = price_usage(usage, self.catalog, provider, model, at)
        assert priced.cost is not None, priced.reason
        self.calls.append(
            Call(
                id=call_id,
                started_at=at,
                provider=provider,
                model_requested=model,
                model_served=model,
                endpoint="/v1/chat/completions",
                status=200,
                latency_ms=900.0,
                ttft_ms=250.0 if streamed else None,
                usage=usage,
                cost=priced.cost,
                feature=feature,
                tags=tags,
                prompt_fingerprint=None if system is None else system[0],
                input_system_tokens=None if system is None else system[1],
            )
        )
        if body is not None:
            self.bodies.append(CallBodies(call_id, request_body=json.dumps(body)))
        return call_id

    def store(self, store: Store) -> None:
        store.insert_many(self.calls, self.bodies)


def _body(model: str, text: str, temperature: float) -> dict[str, object]:
    messages = [{"role": "user", "content": text}]
    return {"model": model, "messages": messages, "temperature": temperature}


def _hours(hours: float) -> dt.timedelta:
    return dt.timedelta(hours=hours)


def planted(catalog: Catalog, *, tiny: bool = True) -> LedgerBuilder:
    """The ledger of the table above."""
    b = LedgerBuilder(catalog)
    for i in range(100):
        b.add("nightly", "gpt-4o-mini", SINCE + _hours(3 * i), BIG)
        b.add("chat", "gpt-4o-mini", SINCE + _hours(3 * i + 1), BIG, streamed=True)
    for k in range(20):
        body = _body("gpt-4o", f"faq question {k}", 0.7)
        start = SINCE + _hours(5 * k + 1)
        for minutes in (0, 10, 50):
            at = start + dt.timedelta(minutes=minutes)
            b.add("faq", "gpt-4o", at, SMALL, streamed=True, body=body)
    for k in range(10):
        body = _body("gpt-4o", f"faq far apart {k}", 0.7)
        start = SINCE + dt.timedelta(days=6) + _hours(5 * k)
        for hours in (0, 2):
            b.add("faq", "gpt-4o", start + _hours(hours), SMALL, streamed=True, body=body)
    for k in range(50):
        body = _body("gpt-4o-mini", f"report {k}", 0)
        start = SINCE + dt.timedelta(days=8) + _hours(2 * k)
        for minutes in (0, 15, 30, 45):
            b.add("reports", "gpt-4o-mini", start + dt.timedelta(minutes=minutes), BIG, body=body)
    if tiny:
        b.add("tiny", "gpt-4o-mini", SINCE + _hours(7), TINY)
    return b


SONNET_CALL = Usage(input_tokens=2_500, output_tokens=200)  # 2,000 system + 500 user


def cacheable(catalog: Catalog) -> LedgerBuilder:
    """Prompt caching on claude-sonnet-4, a 2,000-token system prompt, 15 days:

    - support, streamed: each day a burst of 40 calls one minute apart (cache it).
    - tagging, not streamed: the same bursts (cache it, then batch it: combined).
    - digest, streamed: a call every 2 hours (trap: every call would write).
    """
    b = LedgerBuilder(catalog)
    for day in range(15):
        for minute in range(40):
            at = SINCE + dt.timedelta(days=day, hours=9, minutes=minute)
            for feature, streamed in (("support", True), ("tagging", False)):
                system = (f"fp-{feature}", 2_000)
                b.add(
                    feature, "claude-sonnet-4", at, SONNET_CALL,
                    streamed=streamed, provider="anthropic", system=system,
                )  # fmt: skip
        for hour in range(0, 24, 2):
            at = SINCE + dt.timedelta(days=day, hours=hour, minutes=30)
            b.add(
                "digest", "claude-sonnet-4", at, SONNET_CALL,
                streamed=True, provider="anthropic", system=("fp-digest", 2_000),
            )  # fmt: skip
    return b


def advice_of(database: str, catalog: Catalog, **options: object) -> Advice:
    """``advise`` over the synthetic period of the ledger at ``database``."""
    with open_store(database) as store:
        return advise(store, catalog, SINCE, UNTIL, **options)  # type: ignore[arg-type]


def savings_by_kind_and_feature(advice: Advice) -> dict[tuple[str, str], Decimal]:
    return {(r.kind, r.where["feature"]): r.monthly_saving for r in advice.recommendations}
