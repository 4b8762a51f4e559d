"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The public reference price tables (shared/reference, beside the clone)."""
    env = os.environ.get("LLMTALLY_REFERENCE_DIR")
    folder = Path(env) if env else Path(__file__).parents[2] / "shared" / "reference"
    if not folder.is_dir():
        pytest.fail(
            f"reference price files not found at {folder}: clone 'shared/' beside the "
            "repository or set LLMTALLY_REFERENCE_DIR"
        )
    return folder
