"""What fine-tuning costs, and which hosted models a fine-tuned model may replace.

The built-in price catalog (``catalog/data/*.yaml``) has no fine-tuning prices,
so they are kept here, with their sources. OpenAI fine-tuning, USD per 1M
tokens (standard tier; read 2026-12-06):

============================  ========  =================  ==================
base model                    training  fine-tuned input   fine-tuned output
============================  ========  =================  ==================
gpt-4o-mini-2024-07-18        3.00      0.30               1.20
============================  ========  =================  ==================

Sources: https://openai.com/api/pricing/ (the "Fine-tuning" table), as quoted
by https://tokenmix.ai/blog/openai-fine-tuning-pricing (April 2026, training
$3.00, input $0.30, output $1.20) and
https://www.dev-toolbox.tech/tools/prompt-token-cost-calculator/examples/fine-tuning-cost-estimate
(fine-tuned gpt-4o-mini $0.30 / $1.20: twice the base model's $0.15 / $0.60):
secondary sources, the official page could not be read from here; check it
before relying on these figures. Training is billed on the tokens of the
training file times the epochs.

Which calls: a fine-tuned **smaller or equal** model of the same provider (the
calls keep their provider; the fine-tuned model learns the instruction from
examples instead of reading it with every call). gpt-4o and gpt-4o-mini calls
may move to a fine-tuned gpt-4o-mini; other models have no entry and are not
considered.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from llmtally.catalog import Catalog

__all__ = ["CHECKED", "FINE_TUNES", "FineTune", "fine_tune_for"]

CHECKED = "2026-12-06"


@dataclass(frozen=True, slots=True)
class FineTune:
    """A fine-tunable base model and its prices, USD per 1M tokens."""

    provider: str
    base: str
    training: Decimal
    input: Decimal
    output: Decimal
    source: str


_GPT_4O_MINI = FineTune(
    provider="openai",
    base="gpt-4o-mini-2024-07-18",
    training=Decimal("3.00"),
    input=Decimal("0.30"),
    output=Decimal("1.20"),
    source="https://openai.com/api/pricing/",
)
# (provider, catalog id of the hosted model) -> the fine-tune that may replace it
FINE_TUNES: dict[tuple[str, str], FineTune] = {
    ("openai", "gpt-4o"): _GPT_4O_MINI,
    ("openai", "gpt-4o-2024-08-06"): _GPT_4O_MINI,
    ("openai", "gpt-4o-2024-05-13"): _GPT_4O_MINI,
    ("openai", "gpt-4o-mini"): _GPT_4O_MINI,
}


def fine_tune_for(catalog: Catalog, provider: str, model: str) -> FineTune | None:
    """The fine-tune that may replace ``model`` (any name the catalog matches)."""
    try:
        ref = catalog.lookup(provider, model)
    except LookupError:
        return None
    return FINE_TUNES.get((ref.provider, ref.spec.id))
