"""The advisor: recommendations with the dollars each saves, computed by
re-pricing the period's calls under the change with the meter (issue 15)."""

from llmtally.advisor.advise import DEFAULT_FLOOR, RECOMMENDERS, advise
from llmtally.advisor.recommendation import Advice, Confidence, Considered, Recommendation

__all__ = [
    "DEFAULT_FLOOR",
    "RECOMMENDERS",
    "Advice",
    "Confidence",
    "Considered",
    "Recommendation",
    "advise",
]
