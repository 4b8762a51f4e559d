"""Expected decode throughput of a replica, from memory bandwidth and compute.

A decode step produces one token for each of the ``C`` sequences in the batch
(``C`` = concurrency). It must read the active weights once and every
sequence's KV cache, and do ``2 x active_params`` FLOPs per token::

    t_memory  = (active_weights_gb + kv_cache_gb) / (gpus x bandwidth_gbps x BANDWIDTH_EFFICIENCY)
    t_compute = 2 x active_params x C / (gpus x tflops x 10^12 x COMPUTE_EFFICIENCY)
    t_step    = max(t_memory, t_compute)

    tokens/s per sequence = 1 / t_step
    tokens/s per replica  = C / t_step
    tokens/s per instance = replicas x C / t_step

Assumptions, stated: the GPUs of a replica split the weights evenly (tensor
parallelism) and read in parallel; a decode step reaches
``BANDWIDTH_EFFICIENCY`` = 60% of peak memory bandwidth and
``COMPUTE_EFFICIENCY`` = 40% of dense FP16 tensor throughput (typical of vLLM
decode); int8/int4 weights are dequantised to FP16 for the matrix multiplies,
so they save bandwidth but not FLOPs; every sequence reads a full-context KV
cache (the worst case); prompt processing (prefill) is not counted, which
flatters long-prompt, short-answer workloads. A mixture-of-experts model
reads only its active parameters per token. A measured figure given by the
user replaces all of this.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from llmtally.selfhost.schema import InstanceSpec
from llmtally.selfhost.sizing import BYTES_PER_PARAM, Fit, MemoryNeed, ModelShape, Quant

__all__ = ["BANDWIDTH_EFFICIENCY", "COMPUTE_EFFICIENCY", "Throughput", "decode_throughput"]

BANDWIDTH_EFFICIENCY = Decimal("0.6")
COMPUTE_EFFICIENCY = Decimal("0.4")
_GB = Decimal(10) ** 9
_TERA = Decimal(10) ** 12

Bound = Literal["memory", "compute", "measured"]


@dataclass(frozen=True, slots=True)
class Throughput:
    """Output tokens per second (``per_sequence`` is unknown for a measured figure)."""

    per_sequence: Decimal | None
    per_instance: Decimal
    bound: Bound

    @classmethod
    def measured(cls, tokens_per_second: Decimal) -> Throughput:
        return cls(None, tokens_per_second, "measured")


def decode_throughput(
    model: ModelShape,
    quant: Quant,
    need: MemoryNeed,
    instance: InstanceSpec,
    tflops: Decimal,
    fit: Fit,
    concurrency: int,
) -> Throughput:
    """Decode tokens/s of ``model`` on ``instance`` laid out as ``fit`` (see module doc)."""
    active = model.active
    active_gb = active * BYTES_PER_PARAM[quant] / _GB
    gpus = fit.gpus_per_replica
    bandwidth = gpus * instance.memory_bandwidth_gbps * BANDWIDTH_EFFICIENCY
    t_memory = (active_gb + need.kv_cache_gb) / bandwidth
    t_compute = 2 * active * concurrency / (gpus * tflops * _TERA * COMPUTE_EFFICIENCY)
    t_step = max(t_memory, t_compute)
    bound: Bound = "memory" if t_memory >= t_compute else "compute"
    return Throughput(1 / t_step, fit.replicas * concurrency / t_step, bound)
