"""Announced price changes, walked per provider: a call before a change gets the
old price, a call after it the new one. Expected rates are written by hand from
each provider's announcement (cited in the catalog entry); USD per 1M tokens."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from llmtally.catalog import Catalog, NoPriceError
from llmtally.meter import cost
from llmtally.usage import Usage


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def _at(day: str, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), dt.UTC)


def _in_out(catalog: Catalog, provider: str, model: str, day: str, hour: int = 12) -> tuple:
    rates = catalog.price_at(provider, model, _at(day, hour)).rates
    return rates.input, rates.output


def _walk(catalog: Catalog, provider: str, model: str, steps: list[tuple[str, str, str]]) -> None:
    for day, expected_in, expected_out in steps:
        got = _in_out(catalog, provider, model, day)
        assert got == (Decimal(expected_in), Decimal(expected_out)), f"{model} on {day}"


def test_openai_o3_and_the_gpt_4o_alias(catalog: Catalog) -> None:
    # o3: launched 2025-04-16 at $10 / $40, cut 80% to $2 / $8 on 2025-06-10
    _walk(catalog, "openai", "o3", [
        ("2025-05-01", "10", "40"), ("2025-06-09", "10", "40"),
        ("2025-06-10", "2", "8"), ("2026-01-01", "2", "8"),
    ])  # fmt: skip
    # the dated snapshot is o3 itself: the same history, though the seed lists it apart
    _walk(
        catalog, "openai", "o3-2025-04-16", [("2025-05-01", "10", "40"), ("2025-07-01", "2", "8")]
    )
    # gpt-4o pointed to the 2024-05-13 snapshot ($5 / $15) until 2024-10-02, then to
    # 2024-08-06 ($2.50 / $10); the 2024-08-06 snapshot was $2.50 / $10 from its release
    _walk(catalog, "openai", "gpt-4o", [
        ("2024-06-01", "5", "15"), ("2024-10-01", "5", "15"), ("2024-10-02", "2.50", "10"),
    ])  # fmt: skip
    _walk(catalog, "openai", "gpt-4o-2024-08-06", [("2024-08-06", "2.50", "10")])
    with pytest.raises(NoPriceError):  # before its launch
        catalog.price_at("openai", "o3", _at("2025-04-15"))


def test_anthropic_claude_3_5_haiku(catalog: Catalog) -> None:
    # launched 2024-11-04 at $1 / $5, cut to $0.80 / $4 in December 2024
    _walk(catalog, "anthropic", "claude-3-5-haiku-20241022", [
        ("2024-11-04", "1", "5"), ("2024-12-02", "1", "5"),
        ("2024-12-03", "0.80", "4"), ("2025-06-01", "0.80", "4"),
    ])  # fmt: skip
    # Opus 4.1 kept its $15 / $75 when Opus 4.5 launched at $5 / $25
    _walk(catalog, "anthropic", "claude-opus-4-1", [("2026-01-01", "15", "75")])
    _walk(catalog, "anthropic", "claude-opus-4-5", [("2026-01-01", "5", "25")])


def test_google_gemini_1_5_flash_and_pro(catalog: Catalog) -> None:
    # Flash: $0.35 / $1.05 (up to 128K), cut to $0.075 / $0.30 on 2024-08-12
    _walk(catalog, "google", "gemini-1.5-flash", [
        ("2024-06-01", "0.35", "1.05"), ("2024-08-11", "0.35", "1.05"),
        ("2024-08-12", "0.075", "0.30"),
    ])  # fmt: skip
    # above 128K prompt tokens: $0.70 / $2.10 before, $0.15 / $0.60 after
    long_prompt = Usage(input_tokens=200_000, output_tokens=1_000)
    before = cost(long_prompt, catalog.price_at("google", "gemini-1.5-flash", _at("2024-08-01")))
    after = cost(long_prompt, catalog.price_at("google", "gemini-1.5-flash", _at("2024-09-01")))
    assert before.total == Decimal("0.1421")  # 200,000 x 0.70 + 1,000 x 2.10, per 1M
    assert after.total == Decimal("0.0306")  # 200,000 x 0.15 + 1,000 x 0.60, per 1M
    # Pro: $3.50 / $10.50, cut to $1.25 / $5 on 2024-10-01
    _walk(catalog, "google", "gemini-1.5-pro-002", [
        ("2024-09-30", "3.50", "10.50"), ("2024-10-01", "1.25", "5"),
    ])  # fmt: skip


def test_deepseek_chat_through_promotion_off_peak_and_cuts(catalog: Catalog) -> None:
    _walk(catalog, "deepseek", "deepseek-chat", [
        ("2025-01-15", "0.14", "0.28"),  # V3 promotional price until 2025-02-08
        ("2025-02-10", "0.27", "1.10"),  # full price
        ("2025-09-10", "0.56", "1.68"),  # V3.1 price, 2025-09-05
        ("2025-10-01", "0.28", "0.42"),  # V3.2-Exp cut, 2025-09-29
    ])  # fmt: skip
    # the off-peak half price (16:30-00:30 UTC) from 2025-02-26 until 2025-09-05
    assert _in_out(catalog, "deepseek", "deepseek-chat", "2025-02-20", 17) == (
        Decimal("0.27"),
        Decimal("1.10"),
    )
    assert _in_out(catalog, "deepseek", "deepseek-chat", "2025-03-01", 17) == (
        Decimal("0.135"),
        Decimal("0.55"),
    )
    assert _in_out(catalog, "deepseek", "deepseek-chat", "2025-09-10", 17) == (
        Decimal("0.56"),
        Decimal("1.68"),
    )


def test_xai_grok_3_and_grok_4_after_their_retirement(catalog: Catalog) -> None:
    # grok-3 ($3 / $15) and grok-4-0709 ($3 / $15) were retired on 2026-05-15: calls
    # to them are served by grok-4.3 and billed at $1.25 / $2.50
    for model in ("grok-3", "grok-4", "grok-4-0709"):
        _walk(catalog, "xai", model, [("2025-08-01", "3", "15"), ("2026-05-16", "1.25", "2.50")])
    # grok-3-mini was not in the retirement notice: $0.30 / $0.50 throughout
    _walk(
        catalog,
        "xai",
        "grok-3-mini",
        [("2025-05-01", "0.30", "0.50"), ("2026-06-01", "0.30", "0.50")],
    )


def test_mistral_large_2407(catalog: Catalog) -> None:
    # launched 2024-07-24 at $3 / $9, cut to $2 / $6 on 2024-09-17
    _walk(catalog, "mistral", "mistral-large-2407", [
        ("2024-08-01", "3", "9"), ("2024-09-16", "3", "9"), ("2024-09-17", "2", "6"),
    ])  # fmt: skip


def test_groq_and_together_have_announced_no_change(catalog: Catalog) -> None:
    _walk(catalog, "groq", "llama-3.3-70b-versatile", [
        ("2025-01-01", "0.59", "0.79"), ("2026-06-01", "0.59", "0.79"),
    ])  # fmt: skip
    _walk(catalog, "together", "meta-llama/Llama-3.3-70B-Instruct-Turbo", [
        ("2025-01-01", "0.88", "0.88"), ("2026-06-01", "0.88", "0.88"),
    ])  # fmt: skip
