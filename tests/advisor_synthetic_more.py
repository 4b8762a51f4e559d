"""Synthetic ledgers for the trim_prompt and cap_output recommenders: calls with
per-role input counts, traces, finish reasons and reasoning, built on
``advisor_synthetic.LedgerBuilder`` (each call priced by the built-in catalog).

Calls stream unless said otherwise, so the batch recommender leaves them alone
(considered: someone waits for them) and each test sees its own kind's saving.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

from advisor_synthetic import SINCE, LedgerBuilder
from llmtally.usage import Usage


@dataclass
class MoreBuilder(LedgerBuilder):
    """``LedgerBuilder`` whose calls can carry any other ``Call`` field."""

    def more(
        self,
        feature: str,
        model: str,
        at: dt.datetime,
        usage: Usage,
        *,
        streamed: bool = True,
        body: dict[str, object] | None = None,
        **fields: Any,
    ) -> str:
        call_id = self.add(feature, model, at, usage, streamed=streamed, body=body)
        self.calls[-1] = replace(self.calls[-1], **fields)
        return call_id


def prompt(
    *, system: int = 0, tools: int = 0, history: int = 0, user: int = 0
) -> tuple[int, dict[str, int]]:
    """The input tokens of a prompt of these parts, and its per-role fields."""
    roles = {
        "input_system_tokens": system,
        "input_tools_tokens": tools,
        "input_history_tokens": history,
        "input_latest_user_tokens": user,
    }
    return system + tools + history + user, roles


def minutes(n: float) -> dt.datetime:
    return SINCE + dt.timedelta(minutes=n)
