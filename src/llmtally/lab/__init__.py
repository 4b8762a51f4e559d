"""The lab: run prompts x dataset rows x models through the gateway, side by
side, with each output's checks, cost, tokens, latency and time to first token.

- ``spec``, ``dataset``, ``template``, ``checks``: the experiment file.
- ``plan``: every cell to run, with all checks made before any call.
- ``budget``: worst-case reservations against ``--max-usd``.
- ``clients``, ``runner``, ``host``, ``session``: running it through a gateway.
- ``store``, ``results``, ``report``: the lab tables, and results from the ledger.

The names below are imported on first use (PEP 562), so ``lab show`` does not
load the SDKs that ``lab run`` needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmtally.lab.results import RunResults, load_results
    from llmtally.lab.session import LabOptions, RunOutcome, resume_run, run_experiment
    from llmtally.lab.spec import ExperimentError
    from llmtally.lab.store import LabStore, RunNotFoundError

__all__ = [
    "ExperimentError",
    "LabOptions",
    "LabStore",
    "RunNotFoundError",
    "RunOutcome",
    "RunResults",
    "load_results",
    "resume_run",
    "run_experiment",
]

_HOMES = {
    "ExperimentError": "llmtally.lab.spec",
    "LabOptions": "llmtally.lab.session",
    "RunOutcome": "llmtally.lab.session",
    "resume_run": "llmtally.lab.session",
    "run_experiment": "llmtally.lab.session",
    "LabStore": "llmtally.lab.store",
    "RunNotFoundError": "llmtally.lab.store",
    "RunResults": "llmtally.lab.results",
    "load_results": "llmtally.lab.results",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'llmtally.lab' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
