"""llmtally: make the cost of using large language models visible, predictable and smaller."""

from llmtally.meter import Cost, PricingError, cost
from llmtally.usage import ImageUnits, Usage, UsageError

__all__ = ["Cost", "ImageUnits", "PricingError", "Usage", "UsageError", "cost"]
__version__ = "0.1.0"
