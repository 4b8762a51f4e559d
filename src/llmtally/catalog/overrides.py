"""The user override file: negotiated discounts and custom models.

```yaml
discounts:
  - provider: openai
    models: ["gpt-4o*"]      # shell-style patterns; left out = every model
    factor: "0.85"           # multiply every price by this
    note: "2026 enterprise agreement"
providers:                   # whole price files, for custom or self-hosted models
  - provider: acme
    name: ACME internal
    pricing_url: https://wiki.acme.example/llm-prices
    models: [...]
```
"""

from __future__ import annotations

import fnmatch
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from llmtally.catalog.loader import CatalogFileError, load_yaml, validate
from llmtally.catalog.schema import ProviderFile

__all__ = ["DiscountSpec", "OverrideFile", "read_override_file"]


class DiscountSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str
    models: list[str] = []
    factor: Decimal = Field(gt=0)
    note: str | None = None

    def applies(self, provider: str, model: str) -> bool:
        if provider != self.provider:
            return False
        return not self.models or any(fnmatch.fnmatch(model, p) for p in self.models)


class OverrideFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    discounts: list[DiscountSpec] = []
    providers: list[ProviderFile] = []


def read_override_file(path: Path) -> tuple[OverrideFile, bytes]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CatalogFileError(f"{path}: cannot read the override file ({exc.strerror})") from None
    text = raw.decode("utf-8", errors="replace")
    data = load_yaml(text, str(path))
    if data is None:
        return OverrideFile(), raw
    if not isinstance(data, dict):
        raise CatalogFileError(f"{path}:1: an override file is a mapping of discounts/providers")
    return validate(OverrideFile, data, text, str(path)), raw
