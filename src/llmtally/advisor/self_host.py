"""Self-host: a hosted open-weights model whose traffic crosses the break-even of
running the same weights on GPU instances of one's own.

Which model: only a hosted model that serves open weights the self-hosting
table knows (``llmtally/selfhost/data/models.yaml``: its ids and aliases name
the ids hosts serve the same weights under, e.g. Groq's
``llama-3.3-70b-versatile`` is Llama 3.3 70B; matched by
``ModelTable.find`` through the price catalog). A proprietary model (gpt-4o,
claude-*) has no such entry and is not a candidate: nothing honest can be said
of what would replace it. Calls already on the ``local`` provider are
self-hosted already.

The arithmetic is the self-hosting model's (``llmtally.selfhost``: memory and
GPUs in ``sizing``, decode tokens/s in ``throughput``, money in ``economics``),
run through ``selfhost.plan`` for each quantization in ``QUANTS`` (fp16, and
int8/FP8, which hosts themselves serve; int4 is left out as it costs quality),
each on the cheapest instance per hour that holds it, at ``UTILIZATION``
(busy half of the paid hours: the average traffic at twice its mean still fits)
and a context of ``MIN_CONTEXT`` tokens or the longest prompt of the traffic::

    output capacity / month = tokens/s x 3600 x 720 h x utilization   (prefill free)
    instances               = ceil(output tokens a month / output capacity)
    self-hosted / month     = instances x usd_per_hour x 720 h
    API $ per token         = the traffic's cost on the working copy / its tokens
    break-even tokens/month = one instance's monthly cost / API $ per token

The quantization with the smaller monthly cost wins (a tie keeps fp16). The
change bills each cell of the model ``at_flat_cost``: the instances' monthly
cost scaled to the period (``/ period.to_month``), split over the cells in
proportion to their tokens (``flat_share``). This recommender runs last, so the
API side is the cheapest API usage the others found (cached, batched).

Traps, considered and not recommended: traffic below the break-even ("pays off
above N tokens/month; the period had M"), an instance that cannot serve the
break-even volume at the utilization (never pays), traffic that needs more
instances than it pays for, and a model that fits on no instance.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from llmtally.advisor.candidate import Candidate, Found
from llmtally.advisor.flat_share import split_by_tokens, state_tokens
from llmtally.advisor.period import Period
from llmtally.advisor.recommendation import Confidence, Considered
from llmtally.advisor.self_host_text import how_to_apply, tokens_text
from llmtally.advisor.working import Working, at_flat_cost
from llmtally.catalog import Catalog
from llmtally.money import usd
from llmtally.selfhost.economics import break_even_tokens
from llmtally.selfhost.plan import NoFitError, Plan, PlanRow, Query, plan
from llmtally.selfhost.schema import ModelSpec
from llmtally.selfhost.sizing import Quant
from llmtally.selfhost.tables import (
    InstanceCatalog,
    ModelTable,
    SelfHostError,
    load_instances,
    load_models,
)

__all__ = ["KIND", "MIN_CONTEXT", "QUANTS", "UTILIZATION", "self_host_recommender"]

KIND = "self_host"
UTILIZATION = Decimal("0.5")
QUANTS: tuple[Quant, ...] = ("fp16", "int8")
MIN_CONTEXT = 8192
SELF_HOSTED = ("local",)
_MILLION = Decimal(1_000_000)
Group = tuple[str, str]  # provider, model (as the working copy would send them)


@dataclass(frozen=True, slots=True)
class Traffic:
    """A model's calls in the period on the working copy, and their API cost."""

    cells: tuple[int, ...]
    features: tuple[str, ...]
    calls: int
    input_tokens: int
    output_tokens: int
    api_cost: Decimal  # over the period
    prompt_tokens: int  # the longest prompt


@dataclass(frozen=True, slots=True)
class Sized:
    """One quantization's instances for the traffic."""

    row: PlanRow
    count: int
    monthly: Decimal  # all ``count`` instances

    @property
    def capacity(self) -> Decimal:
        """Output tokens one instance makes in a month at the utilization."""
        assert self.row.output_tokens_per_month is not None
        return self.row.output_tokens_per_month

    @property
    def instance_monthly(self) -> Decimal:
        assert self.row.monthly_cost is not None
        return self.row.monthly_cost


def _traffic(cell_ids: list[int], working: Working) -> Traffic | None:
    """The cells' current usage and API cost; None when one cannot be priced."""
    total = Decimal(0)
    for cid in cell_ids:
        paid = working.price(cid, working.state(cid))
        if paid is None:
            return None
        total += paid
    states = [working.state(cid) for cid in cell_ids]
    return Traffic(
        cells=tuple(cell_ids),
        features=tuple(sorted({working.cell(cid).feature for cid in cell_ids})),
        calls=sum(state.calls for state in states),
        input_tokens=sum(state.usage.input_tokens for state in states),
        output_tokens=sum(state.usage.output_tokens for state in states),
        api_cost=total,
        prompt_tokens=max(state.prompt_tokens for state in states),
    )


def _open_model(table: ModelTable, catalog: Catalog, model: str) -> ModelSpec | None:
    try:
        return table.find(model, catalog)
    except LookupError:
        return None


def _size(result: Plan, output_month: Decimal) -> Sized | None:
    """The cheapest quantization for ``output_month`` output tokens (a tie keeps
    the first: fp16)."""
    best: Sized | None = None
    for row in result.rows:
        if row.monthly_cost is None or not row.output_tokens_per_month:
            continue
        share = output_month / row.output_tokens_per_month
        count = max(1, int(share.to_integral_value(rounding=ROUND_CEILING)))
        sized = Sized(row, count, count * row.monthly_cost)
        if best is None or sized.monthly < best.monthly:
            best = sized
    return best


def _where(group: Group, traffic: Traffic) -> dict[str, str]:
    return {"feature": ", ".join(traffic.features), "provider": group[0], "model": group[1]}


def _rejection(sized: Sized, traffic: Traffic, period: Period) -> str | None:
    """Why self-hosting does not pay at this volume; None when it does."""
    row = sized.row
    assert row.instance is not None
    month_tokens = _month_tokens(traffic, period)
    even = break_even_tokens(sized.instance_monthly, _per_million(traffic, period))
    mix = Decimal(traffic.input_tokens + traffic.output_tokens) / traffic.output_tokens
    one_instance_tokens = sized.capacity * mix
    if even > one_instance_tokens:
        return (
            f"never pays off at {UTILIZATION:.0%} busy: one {row.instance.name} at {row.quant} "
            f"serves at most {tokens_text(one_instance_tokens)} tokens/month at this traffic's "
            f"mix, below the break-even of {tokens_text(even)} tokens/month"
        )
    if month_tokens < even:
        return (
            f"pays off above {tokens_text(even)} tokens/month; "
            f"the period had {tokens_text(month_tokens)}"
        )
    api = traffic.api_cost * period.to_month
    if api <= sized.monthly:
        return (
            f"{tokens_text(month_tokens)} tokens/month need {sized.count} x {row.instance.name} "
            f"({usd(sized.monthly)}/month), more than the API's {usd(api)}/month"
        )
    return None


def _confidence(traffic: Traffic) -> Confidence:
    if traffic.input_tokens <= 10 * traffic.output_tokens:
        return Confidence(
            "medium",
            "the same weights as the hosted model; throughput is estimated from the GPUs' "
            "datasheets, not measured",
        )
    return Confidence(
        "low",
        "throughput is estimated from the GPUs' datasheets and leaves prompt processing out, "
        "which flatters this traffic's long prompts (more than 10 input tokens per output token)",
    )


def _assumptions(sized: Sized, traffic: Traffic, context: int) -> tuple[str, ...]:
    row = sized.row
    assert row.instance is not None and row.throughput is not None
    return (
        f"{sized.count} x {row.instance.name} ({row.instance.cloud} {row.instance.region}, "
        f"on demand ${row.instance.usd_per_hour}/h x 720 h a month, paid whether busy or not)",
        f"{row.quant} weights; {row.throughput.per_instance:.0f} output tokens/s per instance "
        f"(selfhost throughput model, {row.throughput.bound}-bound, prefill not counted)",
        f"busy {UTILIZATION:.0%} of the paid hours (average traffic, peaks up to twice it)",
        f"a context of {context:,} tokens for 16 concurrent sequences per replica",
        f"the same traffic as the period: {traffic.calls:,} calls, scaled to 30 days",
        "staff time, egress and storage not counted",
    )


def _candidate(
    group: Group, traffic: Traffic, spec: ModelSpec, sized: Sized, period: Period, working: Working
) -> Candidate:
    row = sized.row
    assert row.instance is not None
    even = break_even_tokens(sized.instance_monthly, _per_million(traffic, period))
    month_tokens = _month_tokens(traffic, period)
    tokens = [state_tokens(working.state(cid)) for cid in traffic.cells]
    shares = split_by_tokens(sized.monthly / period.to_month, tokens)
    parts = tuple((cid, at_flat_cost(s)) for cid, s in zip(traffic.cells, shares, strict=True))
    context = max(MIN_CONTEXT, traffic.prompt_tokens)
    return Candidate(
        kind=KIND,
        title=f"Self-host {spec.id} on {sized.count} x {row.instance.name}",
        where=_where(group, traffic),
        evidence={
            "model": group[1],
            "since": period.since.isoformat(),
            "until": period.until.isoformat(),
            "open_model": spec.id,
            "instance": row.instance.name,
            "count": str(sized.count),
            "quantization": row.quant,
            "utilization": f"{UTILIZATION.normalize():f}",
            "instances_monthly_usd": f"{sized.monthly.normalize():f}",
            "tokens_per_month": tokens_text(month_tokens),
            "break_even_tokens_per_month": tokens_text(even),
            "above_break_even": f"x{month_tokens / even:.2f}",
        },
        parts=parts,
        calls=traffic.calls,
        assumptions=_assumptions(sized, traffic, context),
        confidence=_confidence(traffic),
        how_to_apply=how_to_apply(spec, row, sized.count, context),
    )


def _month_tokens(traffic: Traffic, period: Period) -> Decimal:
    return (traffic.input_tokens + traffic.output_tokens) * period.to_month


def _per_million(traffic: Traffic, period: Period) -> Decimal:
    """What the API charges per 1M of the traffic's tokens (input + output)."""
    return traffic.api_cost * _MILLION / (traffic.input_tokens + traffic.output_tokens)


@dataclass(frozen=True, slots=True)
class _Tables:
    instances: InstanceCatalog
    models: ModelTable


def _group(
    group: Group, traffic: Traffic, period: Period, working: Working, tables: _Tables
) -> Found:
    spec = _open_model(tables.models, working.catalog, group[1])
    if spec is None or not traffic.output_tokens or traffic.api_cost <= 0:
        return Found()
    where = _where(group, traffic)
    context = max(MIN_CONTEXT, traffic.prompt_tokens)
    query_time = working.cell(traffic.cells[0]).first
    try:
        query = Query(
            model=spec.id, quants=QUANTS, context=context, utilization=UTILIZATION,
            compare=(), at=query_time,
        )  # fmt: skip
        result = plan(query, tables.instances, tables.models, working.catalog)
    except NoFitError as exc:
        return Found(considered=[Considered(KIND, where, f"fits on no instance: {exc}")])
    except SelfHostError as exc:
        return Found(considered=[Considered(KIND, where, f"{spec.id} cannot be sized: {exc}")])
    sized = _size(result, traffic.output_tokens * period.to_month)
    if sized is None:  # pragma: no cover - plan raises NoFitError when no row fits
        return Found()
    reason = _rejection(sized, traffic, period)
    if reason is not None:
        monthly = traffic.api_cost * period.to_month - sized.monthly
        return Found(considered=[Considered(KIND, where, reason, monthly)])
    return Found(candidates=[_candidate(group, traffic, spec, sized, period, working)])


def self_host_recommender(period: Period, working: Working) -> Found:
    """One candidate per hosted open-weights model whose traffic pays for instances."""
    groups: dict[Group, list[int]] = defaultdict(list)
    for cell in period.cells:
        state = working.state(cell.id)
        if state.calls and state.flat is None and state.provider not in SELF_HOSTED:
            groups[(state.provider, state.model)].append(cell.id)
    tables = _Tables(load_instances(), load_models())
    found = Found()
    for group, cell_ids in sorted(groups.items()):
        traffic = _traffic(cell_ids, working)
        if traffic is None:
            continue
        part = _group(group, traffic, period, working, tables)
        found.candidates.extend(part.candidates)
        found.considered.extend(part.considered)
    return found
