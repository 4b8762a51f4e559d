"""Where the scripts find the public reference price tables: ``tests/fixtures/reference``
in this repository (their source, version and sha256 in its ``SOURCES.md``), or the
folder ``$LLMTALLY_REFERENCE_DIR`` names."""

from __future__ import annotations

import os
from pathlib import Path

SHIPPED = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "reference"


def reference_dir() -> Path:
    env = os.environ.get("LLMTALLY_REFERENCE_DIR")
    return Path(env) if env else SHIPPED
