"""Machine-readable forms of the self-hosting answers: Decimal money as strings."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from llmtally.selfhost.economics import ApiComparison
from llmtally.selfhost.plan import Plan, PlanRow
from llmtally.selfhost.schema import InstanceSpec
from llmtally.selfhost.sizing import HEADROOM, KV_BYTES, OVERHEAD_FRACTION
from llmtally.selfhost.throughput import BANDWIDTH_EFFICIENCY, COMPUTE_EFFICIENCY

__all__ = ["ASSUMPTIONS", "comparison_json", "fixed", "instance_json", "plan_json"]

ASSUMPTIONS = (
    "memory = weights (params x 2/1/0.5 bytes for fp16/int8/int4) + KV cache "
    f"({KV_BYTES}-byte values, every sequence at full context) + overhead "
    f"({OVERHEAD_FRACTION:.0%} of weights); each GPU filled to {HEADROOM:.0%}",
    "a replica uses the smallest even share of the instance's GPUs that holds it; "
    "the instance runs as many replicas as fit",
    "decode step time = max(bytes read / (bandwidth x "
    f"{BANDWIDTH_EFFICIENCY}), 2 x active params x batch / (FP16 FLOPS x "
    f"{COMPUTE_EFFICIENCY})); prompt processing not counted",
    "the instance is paid every hour of the month; utilization is the share busy",
    "API break-even counts input + output tokens at the input:output mix",
)


def fixed(value: Decimal | None, places: int) -> str | None:
    """``value`` rounded half-even to ``places`` decimals, as a string."""
    if value is None:
        return None
    return str(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN))


def _count(value: Decimal | None) -> int | None:
    return None if value is None else int(value.to_integral_value(rounding=ROUND_HALF_EVEN))


def instance_json(inst: InstanceSpec) -> dict[str, Any]:
    return {
        "cloud": inst.cloud,
        "name": inst.name,
        "service": inst.service,
        "gpu": inst.gpu,
        "gpu_count": inst.gpu_count,
        "gpu_memory_gb": str(inst.gpu_memory_gb),
        "memory_bandwidth_gbps": str(inst.memory_bandwidth_gbps),
        "usd_per_hour": str(inst.usd_per_hour),
        "region": inst.region,
        "effective": inst.effective.isoformat(),
        "source": inst.source,
        "note": inst.note,
    }


def comparison_json(c: ApiComparison) -> dict[str, Any]:
    return {
        "provider": c.provider,
        "model": c.model,
        "input_per_1m": str(c.input_per_1m),
        "output_per_1m": str(c.output_per_1m),
        "blended_per_1m": fixed(c.blended_per_1m, 6),
        "break_even_tokens_per_month": _count(c.break_even_tokens),
        "break_even_utilization": fixed(c.break_even_utilization, 4),
        "api_cost_at_volume": fixed(c.api_cost_at_volume, 2),
        "self_host_cheaper": c.self_host_cheaper,
    }


def _row(row: PlanRow) -> dict[str, Any]:
    speed = row.throughput
    return {
        "quant": row.quant,
        "fits": row.reason is None,
        "reason": row.reason,
        "memory_gb": {
            "weights": fixed(row.need.weights_gb, 2),
            "kv_cache": fixed(row.need.kv_cache_gb, 2),
            "overhead": fixed(row.need.overhead_gb, 2),
            "total": fixed(row.need.total_gb, 2),
        },
        "instance": None if row.instance is None else instance_json(row.instance),
        "gpus_needed": None if row.fit is None else row.fit.gpus_needed,
        "gpus_per_replica": None if row.fit is None else row.fit.gpus_per_replica,
        "replicas": None if row.fit is None else row.fit.replicas,
        "tokens_per_second": None
        if speed is None
        else {
            "per_sequence": fixed(speed.per_sequence, 2),
            "per_instance": fixed(speed.per_instance, 2),
            "bound": speed.bound,
        },
        "monthly_cost": fixed(row.monthly_cost, 2),
        "output_tokens_per_month": _count(row.output_tokens_per_month),
        "usd_per_1m_output": fixed(row.usd_per_1m_output, 4),
        "break_even": [comparison_json(c) for c in row.comparisons],
    }


def plan_json(result: Plan) -> dict[str, Any]:
    q, m = result.query, result.model
    return {
        "model": {
            "name": m.name,
            "params": str(m.params),
            "active_params": str(m.active),
            "layers": m.layers,
            "kv_bytes_per_token": str(m.kv_bytes_per_token),
        },
        "inputs": {
            "context": q.context,
            "concurrency": q.concurrency,
            "utilization": str(q.utilization),
            "hours_per_month": str(q.hours_per_month),
            "input_output_mix": str(q.mix),
            "measured_tokens_per_second": None
            if q.tokens_per_second is None
            else str(q.tokens_per_second),
            "prices_at": None if q.at is None else q.at.isoformat(),
        },
        "rows": [_row(r) for r in result.rows],
        "assumptions": list(ASSUMPTIONS),
    }
