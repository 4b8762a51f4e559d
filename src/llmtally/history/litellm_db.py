"""LiteLLM's ``LiteLLM_SpendLogs`` read straight from its PostgreSQL database.

Only the columns the import maps are selected (never ``messages``, ``response``
or ``proxy_server_request``: prompts stay where they are), those of them that
this LiteLLM version has; rows stream in ``startTime`` order, a page at a time.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from llmtally.history.reading import Record
from llmtally.history.rows import RowError

__all__ = ["SPEND_LOGS", "is_database_url", "read_spend_logs", "shown_url"]

SPEND_LOGS = "LiteLLM_SpendLogs"
_COLUMNS = (
    "request_id",
    "call_type",
    "api_key",
    "spend",
    "prompt_tokens",
    "completion_tokens",
    "startTime",
    "endTime",
    "model",
    "custom_llm_provider",
    "user",
    "metadata",
    "cache_hit",
    "request_tags",
    "team_id",
    "end_user",
    "session_id",
    "status",
)
_PAGE = 1000


def is_database_url(source: str) -> bool:
    return source.startswith(("postgresql://", "postgres://", "postgresql+"))


def _engine_url(source: str) -> str:
    url = make_url(source.replace("postgres://", "postgresql://", 1))
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


def shown_url(source: str) -> str:
    """The URL as printed: its password hidden."""
    try:
        url = make_url(source.replace("postgres://", "postgresql://", 1))
    except ArgumentError:
        return "the database URL"
    return url.render_as_string(hide_password=True)


def read_spend_logs(source: str) -> Iterator[Record]:
    """Each row of ``LiteLLM_SpendLogs`` at ``source`` as ``("row N", {column: value})``."""
    try:
        engine = create_engine(_engine_url(source), hide_parameters=True)
    except (ArgumentError, ImportError) as exc:
        raise RowError(f"not a database URL LiteLLM's rows can be read from: {exc}") from None
    try:
        inspector = inspect(engine)
        if not inspector.has_table(SPEND_LOGS):
            raise RowError(f"no {SPEND_LOGS} table there (is it LiteLLM's database?)")
        found = {column["name"] for column in inspector.get_columns(SPEND_LOGS)}
        names = ", ".join(f'"{c}"' for c in _COLUMNS if c in found)
        query = text(f'SELECT {names} FROM "{SPEND_LOGS}" ORDER BY "startTime", request_id')
        with engine.connect().execution_options(stream_results=True, yield_per=_PAGE) as conn:
            for number, row in enumerate(conn.execute(query).mappings(), start=1):
                yield f"row {number}", {k: v for k, v in row.items() if v is not None}
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or type(exc).__name__).strip().splitlines()[0]
        raise RowError(f"reading LiteLLM's database failed: {reason}") from None
    finally:
        engine.dispose()
