"""The ledger: every call as one typed row, written behind the request path.

``open_store`` opens SQLite (default) or PostgreSQL and applies migrations;
``LedgerWriter`` batches calls in a background thread and spools them to disk
while the database is down or slow, replaying the spool when it is back.
"""

from __future__ import annotations

from llmtally.ledger.rows import CallBodies
from llmtally.ledger.store import Store, open_store
from llmtally.ledger.writer import LedgerWriter, WriterStats

__all__ = ["CallBodies", "LedgerWriter", "Store", "WriterStats", "open_store"]
