"""llmtally: make the cost of using large language models visible, predictable and smaller.

The names below are imported on first use (PEP 562), so that ``import
llmtally.<module>`` and the command line start quickly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmtally.instrument import attribute, instrument, uninstrument
    from llmtally.meter import Cost, PricingError, cost
    from llmtally.usage import ImageUnits, Usage, UsageError

__all__ = [
    "Cost",
    "ImageUnits",
    "PricingError",
    "Usage",
    "UsageError",
    "attribute",
    "cost",
    "instrument",
    "uninstrument",
]
__version__ = "0.1.0"

_HOMES = {
    "Cost": "llmtally.meter",
    "PricingError": "llmtally.meter",
    "cost": "llmtally.meter",
    "ImageUnits": "llmtally.usage",
    "Usage": "llmtally.usage",
    "UsageError": "llmtally.usage",
    "attribute": "llmtally.instrument",
    "instrument": "llmtally.instrument",
    "uninstrument": "llmtally.instrument",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'llmtally' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
