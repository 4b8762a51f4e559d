"""The dashboard: server-rendered pages over the ledger (Explorer, call, trace,
Models, Overview), served by ``llmtally serve`` beside the gateway."""

from __future__ import annotations

from llmtally.web.app import Dashboard
from llmtally.web.auth import ADMIN_TOKEN_ENV, admin_token

__all__ = ["ADMIN_TOKEN_ENV", "Dashboard", "admin_token"]
