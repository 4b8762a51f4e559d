"""What the fetch loop needs to know of one provider's admin reports: where each
report is, how its query is spelled, how its buckets say when they end.

The two providers page their reports the same way (``data`` of time buckets,
``has_more``, a ``next_page`` cursor passed back as ``page``) but spell the
window differently (unix seconds vs RFC 3339, ``group_by`` vs ``group_by[]``);
each provider module fills one :class:`Provider` and the loop in
:mod:`llmtally.reconcile.fetch` stays the same for both.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llmtally.reconcile.admin_http import AuthHelp

__all__ = ["Endpoint", "Provider", "Query"]

# (start, end, page cursor or None, limit) -> query pairs, in order
Query = Callable[[dt.datetime, dt.datetime, str | None, int], Sequence[tuple[str, str]]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    kind: str  # what import_page calls it: "usage:completions", "costs"...
    path: str  # below the base URL
    query: Query


@dataclass(frozen=True, slots=True)
class Provider:
    name: str
    key_env: str  # the admin key's environment variable
    base_env: str  # the base URL's environment variable (tests: a local fake)
    default_base: str
    auth: AuthHelp
    endpoints: tuple[Endpoint, ...]
    headers: Callable[[str], Mapping[str, str]]  # key -> request headers
    bucket_span: Callable[[Mapping[str, Any]], tuple[dt.datetime, dt.datetime]]
    limit: int = 31  # buckets a page: the most a 1d page may hold (both providers)
