"""Import LiteLLM- and genai-prices-format price files into llmtally price files.

``import_prices(fmt, path)`` converts a whole file: one :class:`ProviderFile`
per provider (canonical provider ids: ``openai``, ``anthropic``, ``google``,
``mistral``, ``deepseek``, ``xai``, ``groq``, ``together``; other providers keep
their own id, sanitised), and one message per entry that could not be fully
converted (which entry, which field, why); the rest still imports.
``write_imported`` writes the files where ``Catalog.load(home=...)`` reads
imports. A file that is not JSON, or not the expected shape, is a
:class:`~llmtally.catalog.loader.CatalogFileError` naming the file and line.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from llmtally.catalog.importers.common import ImportFormat, ImportResult
from llmtally.catalog.importers.genai_prices import import_genai_prices
from llmtally.catalog.importers.litellm import import_litellm
from llmtally.catalog.importers.writer import (
    dump_provider_file,
    dump_provider_json,
    write_imported,
)

__all__ = [
    "FORMATS",
    "ImportFormat",
    "ImportResult",
    "dump_provider_file",
    "dump_provider_json",
    "import_prices",
    "write_imported",
]

FORMATS: tuple[ImportFormat, ...] = ("litellm", "genai-prices")


def import_prices(fmt: ImportFormat, path: Path, *, checked: dt.date | None = None) -> ImportResult:
    """Convert a ``fmt`` price file; ``checked`` dates every imported price, if given."""
    if fmt == "litellm":
        return import_litellm(path, checked=checked)
    if fmt == "genai-prices":
        return import_genai_prices(path, checked=checked)
    raise ValueError(f"unknown price file format {fmt!r}; known: {', '.join(FORMATS)}")
