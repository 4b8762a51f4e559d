"""The budget cap: reserve each call's worst case before sending it, settle to the
ledger's actual cost after, and stop before the cap could be exceeded.

A call's worst case is its prompt counted with the model's offline tokenizer
(x1.25 when the count is an estimate; the UTF-8 byte count, an upper bound for
byte-level BPE, when no tokenizer is known) plus ``max_tokens`` of output (and
Gemini's thinking budget, which is billed on top), at the catalog's price now.
A model priced by the time it holds a machine reserves its whole ``timeout_s``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from decimal import Decimal

from llmtally.catalog import Catalog
from llmtally.currency.pivot import PIVOT, usd_amount
from llmtally.lab.plan import Cell, Target, thinking_budget
from llmtally.meter import cost
from llmtally.tokens.registry import TokenizerRegistry, default_registry
from llmtally.usage import Usage

__all__ = ["ESTIMATE_MARGIN", "Budget", "WorstCase"]

ESTIMATE_MARGIN = Decimal("1.25")
_SECONDS_PER_HOUR = Decimal(3600)


class Budget:
    """Reservations against a cap (``limit`` None: no cap), for one event loop."""

    def __init__(self, limit: Decimal | None, spent: Decimal = Decimal(0)) -> None:
        self.limit, self.spent, self.reserved = limit, spent, Decimal(0)
        self.stopped = False  # a call did not fit: no further call starts
        self._changed = asyncio.Condition()

    async def reserve(self, amount: Decimal) -> bool:
        """Hold ``amount`` for one call; False when it cannot fit even after the
        calls in flight settle (the run then stops: nothing else starts)."""
        async with self._changed:
            while True:
                if self.stopped:
                    return False
                if self.limit is None or self.spent + self.reserved + amount <= self.limit:
                    self.reserved += amount
                    return True
                if self.reserved == 0:
                    self.stopped = True
                    self._changed.notify_all()
                    return False
                await self._changed.wait()  # a call in flight may settle below its reserve

    async def settle(self, reserved: Decimal, actual: Decimal) -> None:
        async with self._changed:
            self.reserved -= reserved
            self.spent += actual
            self._changed.notify_all()


class WorstCase:
    """The most one call of a cell can cost, per the catalog (cached per prompt)."""

    def __init__(self, catalog: Catalog, registry: TokenizerRegistry | None = None) -> None:
        self.catalog = catalog
        self.registry = registry
        self._counts: dict[tuple[str, str, str | None, str], int] = {}

    def of(self, cell: Cell, target: Target) -> Decimal:
        spec = target.spec
        if target.usd_per_hour is not None:
            return target.usd_per_hour * Decimal(str(spec.timeout_s)) / _SECONDS_PER_HOUR
        output = spec.max_tokens
        if target.wire.family == "gemini":  # Gemini thinks beyond maxOutputTokens
            output += thinking_budget(target, spec.reasoning_effort) or 0
        usage = Usage(input_tokens=self.prompt_tokens(cell, target), output_tokens=output)
        now = dt.datetime.now(dt.UTC)
        price = self.catalog.price_at(target.provider, spec.model, now)
        worst = cost(usage, price).total
        if price.currency == PIVOT:
            return worst
        usd = usd_amount(worst, price.currency, now)  # the run's budget is in USD
        if usd is None:
            raise ValueError(
                f"priced in {price.currency} with no {price.currency}->USD rate on or before "
                f"{now.date().isoformat()}: add one to your rates file (docs/currencies.md)"
            )
        return usd

    def prompt_tokens(self, cell: Cell, target: Target) -> int:
        key = (target.provider, target.spec.model, cell.system, cell.user)
        if key not in self._counts:
            self._counts[key] = self._count(cell, target)
        return self._counts[key]

    def _count(self, cell: Cell, target: Target) -> int:
        registry = self.registry or default_registry()
        try:
            _, tokenizer = registry.for_model(target.spec.model, target.provider)
        except LookupError:  # no tokenizer known: bytes bound byte-level BPE from above
            text = (cell.system or "") + cell.user
            return len(text.encode()) + 16
        body = {**target.wire.chat_body(cell.system, cell.user), "model": target.spec.model}
        counted = target.wire.count_prompt(body, tokenizer, target.spec.model)
        if counted is None:  # not a chat wire: bytes bound byte-level BPE from above
            return len(((cell.system or "") + cell.user).encode()) + 16
        if counted.exact:
            return counted.total
        return math.ceil(Decimal(counted.total) * ESTIMATE_MARGIN)
