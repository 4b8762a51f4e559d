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


@pytest.fixture(autouse=True, scope="session")
def _patient_ledger_writer() -> Iterator[None]:
    """In tests, a LedgerWriter built without its own ``db_timeout`` waits up to 30 s
    for a database call instead of the default 2 s. Past its timeout the writer sends
    the batch to the spool (replayed later: nothing is lost), and a shared CI
    machine's disk has stalled SQLite and PostgreSQL writes past 2 s, so the tests
    that check what was recorded right after ``close()`` found rows missing (16 of
    18, 270 of 300). The tests of the spool and timeout paths pass their own short
    ``db_timeout``."""
    from llmtally.ledger import LedgerWriter

    defaults = LedgerWriter.__init__.__kwdefaults__
    assert defaults is not None and defaults["db_timeout"] == 2.0
    defaults["db_timeout"] = 30.0
    yield
    defaults["db_timeout"] = 2.0
