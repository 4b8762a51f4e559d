"""The words of a self-host recommendation: token counts as text, and how to
serve the open weights (a vLLM command and the client change)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from llmtally.selfhost.plan import PlanRow
from llmtally.selfhost.schema import ModelSpec

__all__ = ["how_to_apply", "repository", "tokens_text"]

_HUB = "https://huggingface.co/"
# vLLM's flag for 1-byte weights (FP8; int8 in the sizing model): https://docs.vllm.ai/en/latest/features/quantization/fp8.html
_QUANT_FLAGS = {"fp16": "", "int8": " --quantization fp8", "int4": " --quantization awq"}


def tokens_text(tokens: Decimal) -> str:
    """A token count to the whole token, with thousands separators."""
    return f"{tokens.quantize(Decimal(1), rounding=ROUND_HALF_EVEN):,f}"


def repository(spec: ModelSpec) -> str:
    """The weights' Hugging Face repository, read from the model's config source."""
    if spec.source.startswith(_HUB) and "/blob/" in spec.source:
        return spec.source[len(_HUB) :].split("/blob/")[0]
    return spec.id


def how_to_apply(spec: ModelSpec, row: PlanRow, count: int, context: int) -> str:
    assert row.instance is not None and row.fit is not None
    repo = repository(spec)
    inst = row.instance
    lines = [
        f"# {count} x {inst.name} ({inst.cloud} {inst.region}), {row.quant} weights,",
        f"# {row.fit.replicas} replica(s) of {row.fit.gpus_per_replica} GPU(s) per instance:",
        f"vllm serve {repo} --tensor-parallel-size {row.fit.gpus_per_replica} \\",
        f"    --max-model-len {context} --max-num-seqs 16 "
        f"--gpu-memory-utilization 0.9{_QUANT_FLAGS[row.quant]}",
        "# then send the calls there (an OpenAI-compatible API):",
        'client = OpenAI(base_url="http://YOUR-HOST:8000/v1", api_key="unused")',
        f'client.chat.completions.create(model="{repo}", messages=messages)',
    ]
    return "\n".join(lines)
