"""The self-hosting question end to end: model x quantization x instance -> memory,
GPUs, throughput, $ per 1M output tokens, monthly cost and API break-even.

The arithmetic lives in :mod:`~llmtally.selfhost.sizing` (memory),
:mod:`~llmtally.selfhost.throughput` (tokens/s) and
:mod:`~llmtally.selfhost.economics` (money); this module checks the question,
picks the instance and puts the answers in rows, one per quantization.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from llmtally.selfhost.economics import (
    DEFAULT_HOURS_PER_MONTH,
    ApiComparison,
    Mix,
    compare_apis,
    monthly_cost,
    output_tokens_per_month,
    usd_per_million_output,
)
from llmtally.selfhost.schema import InstanceSpec
from llmtally.selfhost.sizing import (
    HEADROOM,
    QUANTS,
    Fit,
    MemoryNeed,
    ModelShape,
    Quant,
    fit_on,
    memory_need,
)
from llmtally.selfhost.tables import InstanceCatalog, ModelTable, SelfHostError
from llmtally.selfhost.throughput import Throughput, decode_throughput

if TYPE_CHECKING:
    from llmtally.catalog import Catalog

__all__ = ["DEFAULT_COMPARE", "NoFitError", "Plan", "PlanRow", "Query", "plan", "resolve_model"]

DEFAULT_COMPARE: tuple[str, ...] = ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5")
_MAX_HOURS = Decimal(744)  # 31 days


class NoFitError(SelfHostError):
    """The model fits on no instance asked about; says how much memory it needs."""


@dataclass(frozen=True)
class Query:
    """One self-hosting question; every figure is checked on construction."""

    model: str | None = None
    params: Decimal | None = None
    active_params: Decimal | None = None
    layers: int | None = None
    kv_heads: int | None = None
    head_dim: int | None = None
    quants: tuple[Quant, ...] = QUANTS
    context: int = 8192
    concurrency: int = 16
    instance: str | None = None
    cloud: str | None = None
    utilization: Decimal = Decimal("0.5")
    hours_per_month: Decimal = DEFAULT_HOURS_PER_MONTH
    mix: Mix = field(default_factory=Mix)
    compare: tuple[str, ...] = DEFAULT_COMPARE
    tokens_per_second: Decimal | None = None
    at: dt.datetime | None = None

    def __post_init__(self) -> None:
        for name in ("context", "concurrency", "layers", "kv_heads", "head_dim"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise SelfHostError(f"{name.replace('_', ' ')} must be at least 1, got {value}")
        for name in ("params", "active_params", "tokens_per_second"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise SelfHostError(f"{name.replace('_', ' ')} must be positive, got {value}")
        if not 0 < self.utilization <= 1:
            raise SelfHostError(
                f"utilization is the share of the month busy, in (0, 1], got {self.utilization}"
            )
        if not 0 < self.hours_per_month <= _MAX_HOURS:
            raise SelfHostError(
                f"hours per month must be in (0, {_MAX_HOURS}], got {self.hours_per_month}"
            )
        if not self.quants or any(q not in QUANTS for q in self.quants):
            raise SelfHostError(f"quantization must be one of {', '.join(QUANTS)} or all")
        if self.instance is not None and self.cloud is not None:
            raise SelfHostError("give an instance or a cloud, not both")


@dataclass(frozen=True)
class PlanRow:
    """One quantization on its instance; ``reason`` says why it does not fit."""

    quant: Quant
    need: MemoryNeed
    instance: InstanceSpec | None = None
    fit: Fit | None = None
    throughput: Throughput | None = None
    monthly_cost: Decimal | None = None
    output_tokens_per_month: Decimal | None = None
    usd_per_1m_output: Decimal | None = None
    comparisons: tuple[ApiComparison, ...] = ()
    reason: str | None = None


@dataclass(frozen=True)
class Plan:
    model: ModelShape
    query: Query
    rows: tuple[PlanRow, ...]


def resolve_model(query: Query, table: ModelTable, catalog: Catalog | None = None) -> ModelShape:
    """The model's shape: the table's entry (found by name, or through the
    catalog's matching) with the query's figures laid over it."""
    if query.model is not None:
        spec = table.find(query.model, catalog)
        base = ModelShape.from_spec(spec)
        kv_values = base.kv_values
        if query.kv_heads is not None or query.head_dim is not None:
            if spec.kv_heads is None or spec.head_dim is None:
                raise SelfHostError(f"{spec.id} uses latent attention; kv heads do not apply")
            kv_values = 2 * (query.kv_heads or spec.kv_heads) * (query.head_dim or spec.head_dim)
        shape = ModelShape(
            base.name,
            query.params or base.params,
            query.layers or base.layers,
            kv_values,
            query.active_params or base.active_params,
            base.context_window,
        )
    elif None in (query.params, query.layers, query.kv_heads, query.head_dim):
        known = ", ".join(m.id for m in table.models)
        raise SelfHostError(
            "give --model NAME (one of: " + known + "), or --params with --layers, "
            "--kv-heads and --head-dim to size the KV cache"
        )
    else:
        assert query.params and query.layers and query.kv_heads and query.head_dim
        shape = ModelShape(
            "custom",
            query.params,
            query.layers,
            2 * query.kv_heads * query.head_dim,
            query.active_params,
        )
    if shape.context_window is not None and query.context > shape.context_window:
        raise SelfHostError(
            f"{shape.name} takes at most {shape.context_window:,} tokens of context, "
            f"asked for {query.context:,}"
        )
    return shape


def _no_fit(shape: ModelShape, quant: Quant, need: MemoryNeed, pool: list[InstanceSpec]) -> str:
    largest = max(pool, key=lambda i: i.gpu_count * i.gpu_memory_gb)
    total = largest.gpu_count * largest.gpu_memory_gb
    which = "the largest instance" if len(pool) > 1 else "the instance"
    return (
        f"{shape.name} at {quant} needs {need.total_gb:.1f} GB (weights {need.weights_gb:.1f} + "
        f"KV cache {need.kv_cache_gb:.1f} + overhead {need.overhead_gb:.1f}); {which}, "
        f"{largest.name}, has {largest.gpu_count} x {largest.gpu_memory_gb} GB = {total} GB "
        f"({total * HEADROOM:.0f} GB usable at {HEADROOM:.0%})"
    )


def _row(
    shape: ModelShape,
    quant: Quant,
    query: Query,
    instances: InstanceCatalog,
    pool: list[InstanceSpec],
    catalog: Catalog,
) -> PlanRow:
    need = memory_need(shape, quant, query.context, query.concurrency)
    fits = [(i, f) for i in pool if (f := fit_on(i, need)) is not None]
    if not fits:
        return PlanRow(quant, need, reason=_no_fit(shape, quant, need, pool))
    inst, fit = min(fits, key=lambda pair: (pair[0].usd_per_hour, pair[0].name))
    if query.tokens_per_second is not None:
        speed = Throughput.measured(query.tokens_per_second)
    else:
        tflops = instances.tflops(inst)
        speed = decode_throughput(shape, quant, need, inst, tflops, fit, query.concurrency)
    monthly = monthly_cost(inst.usd_per_hour, query.hours_per_month)
    busy = output_tokens_per_month(speed.per_instance, query.hours_per_month, query.utilization)
    full = output_tokens_per_month(speed.per_instance, query.hours_per_month, Decimal(1))
    comparisons = compare_apis(
        catalog,
        query.compare,
        monthly,
        full * query.mix.total_per_output,
        query.utilization,
        query.mix,
        query.at,
    )
    return PlanRow(
        quant,
        need,
        inst,
        fit,
        speed,
        monthly,
        busy,
        usd_per_million_output(inst.usd_per_hour, speed.per_instance, query.utilization),
        tuple(comparisons),
    )


def plan(query: Query, instances: InstanceCatalog, models: ModelTable, catalog: Catalog) -> Plan:
    """Answer ``query``: one row per quantization, each on its instance (the one
    asked for, or the cheapest per hour that fits, on the cloud asked for)."""
    shape = resolve_model(query, models, catalog)
    if query.instance is not None:
        pool = [instances.find(query.instance)]
    else:
        pool = instances.select(cloud=query.cloud)
    rows = tuple(_row(shape, q, query, instances, pool, catalog) for q in query.quants)
    if all(r.reason is not None for r in rows):
        raise NoFitError("; ".join(r.reason for r in rows if r.reason))
    return Plan(shape, query, rows)
