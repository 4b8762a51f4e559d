"""Self-hosting economics: GPU instances, memory and throughput of open models,
$ per 1M tokens, monthly cost, API break-even, and a measured local benchmark.

The names below are imported on first use (PEP 562), so importing one module of
this package does not load the others (nor llama.cpp).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmtally.selfhost.bench import BenchResult, price_bench, run_bench
    from llmtally.selfhost.economics import Mix
    from llmtally.selfhost.plan import NoFitError, Plan, Query, plan
    from llmtally.selfhost.tables import (
        DataFileError,
        SelfHostError,
        UnknownNameError,
        load_instances,
        load_models,
    )

__all__ = [
    "BenchResult",
    "DataFileError",
    "Mix",
    "NoFitError",
    "Plan",
    "Query",
    "SelfHostError",
    "UnknownNameError",
    "load_instances",
    "load_models",
    "plan",
    "price_bench",
    "run_bench",
]

_HOMES = {
    "BenchResult": "llmtally.selfhost.bench",
    "price_bench": "llmtally.selfhost.bench",
    "run_bench": "llmtally.selfhost.bench",
    "Mix": "llmtally.selfhost.economics",
    "NoFitError": "llmtally.selfhost.plan",
    "Plan": "llmtally.selfhost.plan",
    "Query": "llmtally.selfhost.plan",
    "plan": "llmtally.selfhost.plan",
    "DataFileError": "llmtally.selfhost.tables",
    "SelfHostError": "llmtally.selfhost.tables",
    "UnknownNameError": "llmtally.selfhost.tables",
    "load_instances": "llmtally.selfhost.tables",
    "load_models": "llmtally.selfhost.tables",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'llmtally.selfhost' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
