"""Usage of OpenAI's image generation endpoint, read from its response.

``POST /v1/images/generations``
(https://platform.openai.com/docs/api-reference/images/create): the gpt-image
models report token usage (``input_tokens`` with ``input_tokens_details.image_tokens``,
``output_tokens``, all of them image tokens); DALL-E reports none and is billed
per image by the request's ``size`` and ``quality``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmtally.usage import ImageUnits, Usage

__all__ = ["image_usage"]


def image_usage(request: Mapping[str, Any], body: Mapping[str, Any] | None) -> Usage | None:
    """Token usage when reported (gpt-image models), else one priced unit per
    image by the request's size and quality (DALL-E)."""
    if body is None:
        return None
    raw = body.get("usage")
    if isinstance(raw, Mapping) and isinstance(raw.get("input_tokens"), int):
        details = raw.get("input_tokens_details")
        image_in = details.get("image_tokens", 0) if isinstance(details, Mapping) else 0
        out = raw.get("output_tokens", 0)
        return Usage(
            input_tokens=raw["input_tokens"],
            input_image_tokens=image_in if isinstance(image_in, int) else 0,
            output_tokens=out if isinstance(out, int) else 0,
            output_image_tokens=out if isinstance(out, int) else 0,
        )
    data = body.get("data")
    if not isinstance(data, list) or not data:
        return None
    size, quality = request.get("size"), request.get("quality")
    return Usage(
        images=(
            ImageUnits(
                len(data),
                size if isinstance(size, str) else "1024x1024",
                quality if isinstance(quality, str) else "standard",
            ),
        )
    )
