"""The schema of the self-hosting data files: GPU instances and open-model shapes.

Both files are validated with ``extra="forbid"`` so a misspelt field is an
error naming the file, the line and the field path, never a silently missing
figure. Sizes are decimal units: 1 GB = 10^9 bytes, bandwidth in GB/s.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["Cloud", "GpuSpec", "InstanceFile", "InstanceSpec", "ModelFile", "ModelSpec"]

Cloud = Literal["aws", "gcp", "azure"]

_URL = r"^https?://\S+$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GpuSpec(_Strict):
    """One GPU model's datasheet figures (per GPU)."""

    memory_gb: Decimal = Field(gt=0)
    memory_bandwidth_gbps: Decimal = Field(gt=0)
    dense_fp16_tflops: Decimal = Field(gt=0, description="dense FP16/BF16 tensor TFLOPS")
    source: str = Field(pattern=_URL)
    note: str | None = None


class InstanceSpec(_Strict):
    """One cloud instance type at its on-demand list price in one region.

    ``effective`` is the date from which the source shows this price in force
    (or, where the source gives no start date, the date it was seen in force;
    the ``note`` then says so). A figure taken from a secondary source or not
    re-read from the provider's own table carries a ``note``.
    """

    cloud: Cloud
    name: str = Field(min_length=1)
    service: str | None = Field(default=None, description="e.g. 'sagemaker' for ml.* types")
    gpu: str = Field(min_length=1, description="a key of the file's gpus table")
    gpu_count: int = Field(ge=1)
    gpu_memory_gb: Decimal = Field(gt=0, description="memory of each GPU")
    memory_bandwidth_gbps: Decimal = Field(gt=0, description="memory bandwidth of each GPU")
    usd_per_hour: Decimal = Field(gt=0)
    region: str = Field(min_length=1)
    effective: dt.date
    source: str = Field(pattern=_URL)
    note: str | None = None


class InstanceFile(_Strict):
    checked: dt.date
    gpus: dict[str, GpuSpec] = Field(min_length=1)
    instances: list[InstanceSpec] = Field(min_length=1)


class ModelSpec(_Strict):
    """An open model's size and attention shape, enough to size its KV cache.

    Grouped-query attention caches ``2 x kv_heads x head_dim`` values per layer
    per token (a key and a value per KV head); multi-head latent attention
    (DeepSeek-V3) caches one compressed latent of ``kv_latent_dim`` values per
    layer per token instead. Give one shape or the other.
    """

    id: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    params: Decimal = Field(gt=0, description="total parameters")
    active_params: Decimal | None = Field(
        default=None, gt=0, description="parameters read per token (MoE); default: all"
    )
    layers: int = Field(ge=1)
    kv_heads: int | None = Field(default=None, ge=1)
    head_dim: int | None = Field(default=None, ge=1)
    kv_latent_dim: int | None = Field(default=None, ge=1)
    context_window: int = Field(ge=1)
    source: str = Field(pattern=_URL)
    note: str | None = None

    @model_validator(mode="after")
    def _one_attention_shape(self) -> ModelSpec:
        gqa = self.kv_heads is not None and self.head_dim is not None
        if gqa == (self.kv_latent_dim is not None):
            raise ValueError("give kv_heads and head_dim (GQA), or kv_latent_dim (MLA), not both")
        if self.active_params is not None and self.active_params > self.params:
            raise ValueError("active_params cannot exceed params")
        return self


class ModelFile(_Strict):
    checked: dt.date
    models: list[ModelSpec] = Field(min_length=1)
