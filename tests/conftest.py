"""Shared test fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from replay_upstream import ReplayUpstream


# The public reference price tables, shipped with the repository (source, version
# and sha256 in its SOURCES.md).
REFERENCE_DIR = Path(__file__).parent / "fixtures" / "reference"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The reference price tables: tests/fixtures/reference, or $LLMTALLY_REFERENCE_DIR."""
    env = os.environ.get("LLMTALLY_REFERENCE_DIR")
    folder = Path(env) if env else REFERENCE_DIR
    if not folder.is_dir():
        pytest.fail(
            f"reference price files not found at {folder} (LLMTALLY_REFERENCE_DIR): "
            f"unset it to use the copies shipped in {REFERENCE_DIR}",
            pytrace=False,
        )
    return folder


@pytest.fixture
def replay_upstream() -> Iterator[ReplayUpstream]:
    """A local HTTP server replaying tests/fixtures/transcripts (see replay_upstream.py)."""
    from replay_upstream import ReplayUpstream

    with ReplayUpstream() as upstream:
        yield upstream


@pytest.fixture(autouse=True, scope="session")
def _own_data_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests never read the user's data folder: the catalog opened from settings
    (imports, override file) and the default ledger live in an empty temporary one."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LLMTALLY_HOME", str(tmp_path_factory.mktemp("llmtally-home")))
        patch.delenv("LLMTALLY_PRICES", raising=False)
        yield
