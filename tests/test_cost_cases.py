"""Hand-computed cost cases against the built-in, hand-checked price files.

Every expected amount in ``cost_cases.yaml`` was worked out by hand from the
provider's published prices (the arithmetic is in each case's ``why``); the
test prices the same usage through ``Catalog.load().price_at`` and
``meter.cost`` and compares exact ``Decimal`` values.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmtally.catalog import BUILTIN_DIR, Catalog, NoPriceError, UnknownModelError
from llmtally.catalog.loader import read_provider_file
from llmtally.meter import COMPONENTS, PricingError, cost
from llmtally.providers import parse_usage
from llmtally.usage import ImageUnits, ServiceTier, Usage

CASES_FILE = Path(__file__).with_name("cost_cases.yaml")
CHECKED = dt.date(2026, 11, 28)  # the earliest check of the hand-checked files

# Every pricing feature the hand-checked catalog claims must be exercised by at
# least one hand-computed case.
REQUIRED_FEATURES = {
    "input_output",
    "cache_read",
    "cache_write_5m",
    "cache_write_1h",
    "reasoning",
    "audio_tokens",
    "image_input_tokens",
    "image_output_tokens",
    "images_per_unit",
    "audio_duration",
    "audio_minimum",
    "tts_characters",
    "embeddings",
    "request_fee",
    "long_context_below",
    "long_context_above",
    "batch",
    "flex",
    "priority",
    "window_inside",
    "window_outside",
    "window_midnight",
    "history",
    "snapshot",
    "self_hosted",
    "classic",
    "provider_wire",
}
_CASE_KEYS = {
    "id",
    "provider",
    "model",
    "at",
    "usage",
    "wire",
    "total",
    "parts",
    "places",
    "features",
    "why",
    "source",
}


@dataclass(frozen=True)
class CostCase:
    id: str
    provider: str | None
    model: str
    at: dt.datetime
    usage: Usage
    total: Decimal
    why: str
    source: str
    features: frozenset[str]
    parts: dict[str, Decimal] = field(default_factory=dict)
    places: int | None = None


def _usage(raw: dict[str, Any]) -> Usage:
    kwargs = dict(raw)
    if "images" in kwargs:
        kwargs["images"] = tuple(ImageUnits(**unit) for unit in kwargs["images"])
    if "audio_seconds" in kwargs:
        kwargs["audio_seconds"] = Decimal(kwargs["audio_seconds"])
    return Usage(**kwargs)


def _case(raw: dict[str, Any]) -> CostCase:
    unknown = set(raw) - _CASE_KEYS
    assert not unknown, f"{raw.get('id')}: unknown keys {sorted(unknown)}"
    assert ("usage" in raw) != ("wire" in raw), f"{raw['id']}: give usage or wire, not both"
    if "wire" in raw:
        # A provider usage object, read by that provider's parser.
        usage = parse_usage(raw["provider"], raw["wire"])
    else:
        usage = _usage(raw["usage"])
    at = dt.datetime.fromisoformat(raw["at"])
    assert at.tzinfo is not None, f"{raw['id']}: timestamps must carry a zone"
    return CostCase(
        id=raw["id"],
        provider=raw["provider"],
        model=raw["model"],
        at=at,
        usage=usage,
        total=Decimal(raw["total"]),
        why=raw["why"],
        source=raw["source"],
        features=frozenset(raw["features"]),
        parts={name: Decimal(amount) for name, amount in (raw.get("parts") or {}).items()},
        places=raw.get("places"),
    )


def _load_cases() -> list[CostCase]:
    raw = yaml.safe_load(CASES_FILE.read_text(encoding="utf-8"))
    return [_case(item) for item in raw]


CASES = _load_cases()


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def _rounded(amount: Decimal, places: int | None) -> Decimal:
    return amount if places is None else amount.quantize(Decimal(1).scaleb(-places))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hand_computed_cost(case: CostCase, catalog: Catalog) -> None:
    price = catalog.price_at(case.provider, case.model, case.at)
    result = cost(case.usage, price)
    assert _rounded(result.total, case.places) == case.total, case.why
    for name, expected in case.parts.items():
        assert getattr(result, name) == expected, f"{name}: {case.why}"


def test_cases_are_many_distinct_and_documented() -> None:
    assert len(CASES) >= 60
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    for case in CASES:
        assert case.source.startswith("https://"), case.id
        assert "=" in case.why and "$" in case.why, f"{case.id}: show the arithmetic"
        assert set(case.parts) <= set(COMPONENTS), case.id
        # A part is only meaningful if the parts do not already exceed the total.
        assert sum(case.parts.values(), Decimal(0)) <= case.total, case.id


def test_every_feature_has_a_case() -> None:
    covered = set().union(*(c.features for c in CASES))
    assert covered >= REQUIRED_FEATURES, sorted(REQUIRED_FEATURES - covered)
    assert covered <= REQUIRED_FEATURES, sorted(covered - REQUIRED_FEATURES)


def test_every_case_hits_the_hand_checked_files(catalog: Catalog) -> None:
    """The cases test our own files, not a seed or imported table that shadows them."""
    hand = {
        (pf.provider, spec.id)
        for pf in (read_provider_file(path)[0] for path in BUILTIN_DIR.glob("*.yaml"))
        for spec in pf.models
    }
    for case in CASES:
        ref = catalog.lookup(case.provider, case.model)
        assert (ref.provider, ref.spec.id) in hand, f"{case.id}: resolved to {ref.spec.id}"


# --- the hand-checked files themselves ---------------------------------------

HAND_FILES = sorted(BUILTIN_DIR.glob("*.yaml"))


@pytest.mark.parametrize("path", HAND_FILES, ids=[p.stem for p in HAND_FILES])
def test_every_price_entry_is_sourced_and_checked(path: Path) -> None:
    pf, _ = read_provider_file(path)
    assert pf.pricing_url.startswith("https://")
    assert pf.models, f"{path.name} has no models"
    for model in pf.models:
        for entry in model.prices:
            where = f"{pf.provider}/{model.id}@{entry.effective}"
            assert entry.source.startswith("https://"), where
            assert entry.checked is not None and entry.checked >= CHECKED, where
        if model.prices[0].effective is None:
            assert model.prices[0].note, f"{pf.provider}/{model.id}: say why the date is unknown"


def test_the_expected_providers_and_aliases_are_there(catalog: Catalog) -> None:
    for provider in (
        "openai",
        "anthropic",
        "google",
        "mistral",
        "deepseek",
        "xai",
        "groq",
        "together",
        "local",
    ):
        assert provider in catalog.providers
    aliases = {
        "gemini": "google",
        "vertex_ai": "google",
        "x-ai": "xai",
        "grok": "xai",
        "together_ai": "together",
        "togetherai": "together",
    }
    for alias, provider in aliases.items():
        assert catalog.index.canonical_provider(alias) == provider


# --- names ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "model", "provider_id", "model_id"),
    [
        ("openai", "gpt-4o-2024-08-06", "openai", "gpt-4o-2024-08-06"),
        ("openai", "gpt-4o-2024-11-20", "openai", "gpt-4o-2024-08-06"),
        ("openai", "gpt-4o-2024-05-13", "openai", "gpt-4o-2024-05-13"),
        ("openai", "gpt-4o-2099-01-01", "openai", "gpt-4o"),
        (None, "openai/gpt-4o", "openai", "gpt-4o"),
        ("anthropic", "claude-3-5-sonnet-20241022", "anthropic", "claude-3-5-sonnet"),
        (None, "anthropic/claude-sonnet-4-5-20250929", "anthropic", "claude-sonnet-4-5"),
        (None, "anthropic/claude-3-5-haiku-latest", "anthropic", "claude-3-5-haiku"),
        ("gemini", "gemini-2.5-pro-preview-05-06", "google", "gemini-2.5-pro"),
        ("vertex_ai", "gemini-2.0-flash-001", "google", "gemini-2.0-flash"),
        ("x-ai", "grok-4-0709", "xai", "grok-4"),
        (None, "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo", "together", None),
        ("local", "smollm2", "local", "smollm2-135m-instruct"),
    ],
)
def test_names_resolve(
    catalog: Catalog, provider: str | None, model: str, provider_id: str, model_id: str | None
) -> None:
    ref = catalog.lookup(provider, model)
    assert ref.provider == provider_id
    assert ref.spec.id == (model_id or model.split("/", 1)[1])


def test_gpt_4o_2024_05_13_keeps_its_own_price(catalog: Catalog) -> None:
    at = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
    old = catalog.price_at("openai", "gpt-4o-2024-05-13", at)
    new = catalog.price_at("openai", "gpt-4o", at)
    assert (old.rates.input, old.rates.output) == (Decimal("5.00"), Decimal("15.00"))
    assert (new.rates.input, new.rates.output) == (Decimal("2.50"), Decimal("10.00"))


# --- errors -----------------------------------------------------------------

AT = dt.datetime(2025, 10, 10, 12, 0, tzinfo=dt.UTC)


def test_before_the_first_price_is_no_price(catalog: Catalog) -> None:
    with pytest.raises(NoPriceError, match="2024-09-12"):
        catalog.price_at("openai", "o1-mini", dt.datetime(2024, 9, 1, tzinfo=dt.UTC))
    with pytest.raises(NoPriceError, match="2023-03-14"):
        catalog.price_at("openai", "gpt-4", dt.datetime(2023, 1, 1, tzinfo=dt.UTC))


@pytest.mark.parametrize(
    ("provider", "model", "at", "tier", "offered"),
    [
        ("anthropic", "claude-sonnet-4-5", AT, "flex", "tiers offered: batch"),
        ("openai", "gpt-4", AT, "priority", "tiers offered: batch"),
        # o3 got a priority price with the 2025-06-10 cut, not before.
        ("openai", "o3", dt.datetime(2025, 5, 1, tzinfo=dt.UTC), "priority", "batch, flex\\)"),
        ("deepseek", "deepseek-chat", AT, "batch", "tiers offered: none"),
    ],
)
def test_a_tier_not_offered_is_an_error_naming_the_tiers(
    catalog: Catalog, provider: str, model: str, at: dt.datetime, tier: ServiceTier, offered: str
) -> None:
    price = catalog.price_at(provider, model, at)
    usage = Usage(input_tokens=1000, output_tokens=100, service_tier=tier)
    with pytest.raises(PricingError, match=offered):
        cost(usage, price)


def test_an_image_size_not_priced_lists_the_sizes(catalog: Catalog) -> None:
    price = catalog.price_at("openai", "dall-e-3", AT)
    usage = Usage(images=(ImageUnits(n=1, size="512x512"),))
    with pytest.raises(PricingError, match=r"512x512 standard") as info:
        cost(usage, price)
    for listed in ("1024x1024 standard", "1024x1024 hd", "1024x1792 hd", "1792x1024 standard"):
        assert listed in str(info.value)
    # DALL-E 2 has no HD quality at all.
    dalle2 = catalog.price_at("openai", "dall-e-2", AT)
    with pytest.raises(PricingError, match="256x256 standard"):
        cost(Usage(images=(ImageUnits(n=1, size="1024x1024", quality="hd"),)), dalle2)


def test_audio_tokens_without_an_audio_price_are_an_error(catalog: Catalog) -> None:
    price = catalog.price_at("openai", "gpt-4o", AT)
    with pytest.raises(PricingError, match="audio input"):
        cost(Usage(input_tokens=1000, input_audio_tokens=500), price)
    with pytest.raises(PricingError, match="audio output"):
        cost(Usage(output_tokens=1000, output_audio_tokens=500), price)
    with pytest.raises(PricingError, match="per-duration audio"):
        cost(Usage(audio_seconds=Decimal(60)), price)


def test_characters_on_a_token_model_are_an_error(catalog: Catalog) -> None:
    price = catalog.price_at(
        "anthropic", "claude-haiku-4-5", dt.datetime(2025, 11, 1, tzinfo=dt.UTC)
    )
    with pytest.raises(PricingError, match="per-character"):
        cost(Usage(characters=100), price)


def test_an_unknown_model_names_the_nearest(catalog: Catalog) -> None:
    with pytest.raises(UnknownModelError, match="gpt-4o-mini") as info:
        catalog.price_at("openai", "gpt-4o-mnii", AT)
    assert "openai/gpt-4o-mini" in info.value.near
    with pytest.raises(UnknownModelError) as info2:
        catalog.price_at("anthropic", "claude-sonet-4-5", AT)
    assert "anthropic/claude-sonnet-4-5" in info2.value.near


# --- meter defects these cases exposed, fixed: kept as regression tests


def test_per_hour_audio_is_exact(catalog: Catalog) -> None:
    price = catalog.price_at("groq", "whisper-large-v3-turbo", AT)
    # 90 s x $0.04 / 3,600 s = $3.60 / 3,600 = $0.001 exactly.
    assert cost(Usage(audio_seconds=Decimal(90)), price).total == Decimal("0.001")


WINDOW_AND_CLIFF = """\
provider: acme
name: ACME
pricing_url: https://acme.example/pricing
models:
  - id: night-owl
    prices:
      - source: https://acme.example/pricing
        input: "2"
        output: "10"
        long_context:
          - {above: 1000, input: "4", output: "20"}
        windows:
          - {start: "16:30", end: "00:30", discount: "0.5"}
"""


def test_window_discount_also_applies_above_a_cliff(tmp_path: Path) -> None:
    (tmp_path / "acme.yaml").write_text(WINDOW_AND_CLIFF)
    catalog = Catalog.load(builtin=tmp_path)
    price = catalog.price_at("acme", "night-owl", dt.datetime(2025, 3, 1, 20, 0, tzinfo=dt.UTC))
    # Off-peak (50% off) above the cliff: 2,000 x $4 x 0.5 + 100 x $20 x 0.5, per 1M,
    # = $0.004 + $0.001 = $0.005.
    assert cost(Usage(input_tokens=2000, output_tokens=100), price).total == Decimal("0.005")
