"""Projected costs: a workload file on many models, and logged traffic re-priced.

The names below are imported on first use (PEP 562), so that importing one
module of this package does not load the tokenizers, the ledger or SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmtally.estimate.engine import DEFAULT_MODELS, estimate
    from llmtally.estimate.files import WorkloadError, WorkloadFile, parse_workload, read_workload
    from llmtally.estimate.repricing import Repricing, reprice
    from llmtally.estimate.result import Estimate, ModelEstimate
    from llmtally.estimate.workload import Workload

__all__ = [
    "DEFAULT_MODELS",
    "Estimate",
    "ModelEstimate",
    "Repricing",
    "Workload",
    "WorkloadError",
    "WorkloadFile",
    "estimate",
    "parse_workload",
    "read_workload",
    "reprice",
]

_HOMES = {
    "DEFAULT_MODELS": "llmtally.estimate.engine",
    "estimate": "llmtally.estimate.engine",
    "WorkloadError": "llmtally.estimate.files",
    "WorkloadFile": "llmtally.estimate.files",
    "parse_workload": "llmtally.estimate.files",
    "read_workload": "llmtally.estimate.files",
    "Repricing": "llmtally.estimate.repricing",
    "reprice": "llmtally.estimate.repricing",
    "Estimate": "llmtally.estimate.result",
    "ModelEstimate": "llmtally.estimate.result",
    "Workload": "llmtally.estimate.workload",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'llmtally.estimate' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
