"""What the currency tests share: pointing llmtally at a test's own rates file,
the "our bank" CNY rate for today, and a chat call costed by the meter. Each test
keeps its own rates (the data its hand-worked figures rest on)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from llmtally.catalog.price import Price
from llmtally.meter import cost
from llmtally.usage import Call, Usage, new_ulid

__all__ = ["bank_rate_today", "chat_call", "use_rates"]


def use_rates(folder: Path, text: str, env: pytest.MonkeyPatch) -> Path:
    """Write ``text`` as ``folder/rates.yaml`` and point ``LLMTALLY_RATES`` at it."""
    path = folder / "rates.yaml"
    path.write_text(text, encoding="utf-8")
    env.setenv("LLMTALLY_RATES", str(path))
    return path


def bank_rate_today(home: Path) -> dt.date:
    """``home/rates.yaml`` with one row: 1 CNY = 0.14 USD today (a user's row for
    today replaces any shipped row for today); today's date."""
    today = dt.datetime.now(dt.UTC).date()
    (home / "rates.yaml").write_text(
        f"rates:\n  - {{date: {today.isoformat()}, base: CNY, quote: USD, rate: '0.14', "
        "source: 'test: our bank'}\n"
    )
    return today


def chat_call(
    provider: str,
    model: str,
    price: Price,
    at: dt.datetime,
    usage: Usage,
    latency_ms: float = 100.0,
    **more: Any,
) -> Call:
    """A 200 chat completion of ``model`` at ``at``, its cost the meter's at ``price``."""
    return Call(
        id=new_ulid(),
        started_at=at,
        provider=provider,
        model_requested=model,
        model_served=model,
        endpoint="/v1/chat/completions",
        status=200,
        latency_ms=latency_ms,
        usage=usage,
        cost=cost(usage, price),
        **more,
    )
