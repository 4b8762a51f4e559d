"""Other tools' history into the ledger: ``llmtally import jsonl|litellm|langfuse|helicone FILE``.

Each row becomes a :class:`~llmtally.usage.Call` priced by llmtally's meter at
the call's date, its id stable per (tool, source id) so a re-import adds nothing.
"""

from __future__ import annotations

from llmtally.history.formats import parse_generic, parse_litellm
from llmtally.history.load import PARSERS, ImportSummary, Skipped, import_history
from llmtally.history.observability import parse_helicone, parse_langfuse
from llmtally.history.rows import ImportedCall, RowError, to_call

__all__ = [
    "PARSERS",
    "ImportSummary",
    "ImportedCall",
    "RowError",
    "Skipped",
    "import_history",
    "parse_generic",
    "parse_helicone",
    "parse_langfuse",
    "parse_litellm",
    "to_call",
]
