"""Shared test fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from replay_upstream import ReplayUpstream


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


@pytest.fixture
def replay_upstream() -> Iterator[ReplayUpstream]:
    """A local HTTP server replaying tests/fixtures/transcripts (see replay_upstream.py)."""
    from replay_upstream import ReplayUpstream

    with ReplayUpstream() as upstream:
        yield upstream
