"""How much GPU memory a model needs, and how many GPUs of an instance that takes.

The memory model (1 GB = 10^9 bytes)::

    weights  = params x bytes_per_param        fp16/bf16 2, int8 1, int4 0.5
    kv_cache = layers x values_per_layer x KV_BYTES x context x concurrency
               values_per_layer = 2 x kv_heads x head_dim   (GQA: a key and a value)
                                = kv_latent_dim             (MLA: one latent)
    overhead = OVERHEAD_FRACTION x weights     activations, CUDA graphs and context,
                                               quantisation scales and zero points
    total    = weights + kv_cache + overhead

Assumptions, stated: the KV cache is kept in 16-bit (``KV_BYTES`` = 2) whatever
the weights' format, as vLLM and TGI do by default; every sequence is sized at
the full context (the worst case a server must admit); each GPU is filled to
``HEADROOM`` (90%, vLLM's default ``gpu_memory_utilization``).

A replica of the model is spread over the smallest share of the instance's
GPUs that holds it (a divisor of the GPU count, so tensor parallelism splits
evenly); an instance runs ``gpu_count // gpus_per_replica`` replicas.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Literal

from llmtally.selfhost.schema import InstanceSpec, ModelSpec
from llmtally.selfhost.tables import SelfHostError

__all__ = [
    "BYTES_PER_PARAM",
    "HEADROOM",
    "KV_BYTES",
    "OVERHEAD_FRACTION",
    "QUANTS",
    "Fit",
    "MemoryNeed",
    "ModelShape",
    "Quant",
    "fit_on",
    "gpus_needed",
    "memory_need",
]

Quant = Literal["fp16", "int8", "int4"]
QUANTS: tuple[Quant, ...] = ("fp16", "int8", "int4")
BYTES_PER_PARAM: dict[Quant, Decimal] = {
    "fp16": Decimal(2),
    "int8": Decimal(1),
    "int4": Decimal("0.5"),
}
KV_BYTES = Decimal(2)
OVERHEAD_FRACTION = Decimal("0.10")
HEADROOM = Decimal("0.90")
_GB = Decimal(10) ** 9


@dataclass(frozen=True, slots=True)
class ModelShape:
    """What the arithmetic needs of a model; ``kv_values`` per layer per token."""

    name: str
    params: Decimal
    layers: int
    kv_values: int
    active_params: Decimal | None = None
    context_window: int | None = None

    def __post_init__(self) -> None:
        if not self.params > 0:
            raise SelfHostError(f"the parameter count must be positive, got {self.params}")
        if self.active_params is not None and not 0 < self.active_params <= self.params:
            raise SelfHostError(
                f"active parameters must be positive and at most {self.params}, "
                f"got {self.active_params}"
            )
        if self.layers < 1 or self.kv_values < 1:
            raise SelfHostError(
                f"layers and KV values per layer must be positive, got {self.layers} "
                f"and {self.kv_values}"
            )

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> ModelShape:
        if spec.kv_latent_dim is not None:
            values = spec.kv_latent_dim
        else:
            assert spec.kv_heads is not None and spec.head_dim is not None  # schema-checked
            values = 2 * spec.kv_heads * spec.head_dim
        return cls(
            spec.id, spec.params, spec.layers, values, spec.active_params, spec.context_window
        )

    @property
    def active(self) -> Decimal:
        """Parameters read per generated token."""
        return self.active_params if self.active_params is not None else self.params

    @property
    def kv_bytes_per_token(self) -> Decimal:
        """Bytes of KV cache one token adds, over all layers."""
        return self.layers * self.kv_values * KV_BYTES


@dataclass(frozen=True, slots=True)
class MemoryNeed:
    """GPU memory for one replica, in GB."""

    weights_gb: Decimal
    kv_cache_gb: Decimal
    overhead_gb: Decimal

    @property
    def total_gb(self) -> Decimal:
        return self.weights_gb + self.kv_cache_gb + self.overhead_gb


@dataclass(frozen=True, slots=True)
class Fit:
    """How a replica sits on an instance."""

    gpus_needed: int
    gpus_per_replica: int
    replicas: int


def memory_need(model: ModelShape, quant: Quant, context: int, concurrency: int) -> MemoryNeed:
    """Memory for one replica serving ``concurrency`` sequences of ``context`` tokens."""
    weights = model.params * BYTES_PER_PARAM[quant] / _GB
    kv = model.kv_bytes_per_token * context * concurrency / _GB
    return MemoryNeed(weights, kv, weights * OVERHEAD_FRACTION)


def gpus_needed(total_gb: Decimal, gpu_memory_gb: Decimal) -> int:
    """GPUs of this size that hold ``total_gb`` when each is filled to ``HEADROOM``."""
    share = total_gb / (gpu_memory_gb * HEADROOM)
    return max(1, int(share.to_integral_value(rounding=ROUND_CEILING)))


def fit_on(instance: InstanceSpec, need: MemoryNeed) -> Fit | None:
    """The replica layout on ``instance``, or ``None`` when it does not fit."""
    needed = gpus_needed(need.total_gb, instance.gpu_memory_gb)
    for share in range(needed, instance.gpu_count + 1):
        if instance.gpu_count % share == 0:
            return Fit(needed, share, instance.gpu_count // share)
    return None
