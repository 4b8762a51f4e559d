"""Image input tokens against the worked examples each vendor publishes."""

from __future__ import annotations

import struct

import pytest

from llmtally.tokens.images import image_size, image_tokens, known_families

OPENAI = "https://developers.openai.com/api/docs/guides/images-vision#calculating-costs"
ANTHROPIC = "https://platform.claude.com/docs/en/build-with-claude/vision"
GEMINI = "https://ai.google.dev/gemini-api/docs/tokens#multimodal-tokens"


# --- OpenAI tile rule: OPENAI, "Tile-based image tokenization" ---------------


@pytest.mark.parametrize(
    ("width", "height", "detail", "tokens", "resized"),
    [
        (1024, 1024, "high", 765, (768, 768)),  # "170 * 4 + 85 = 765"
        (2048, 4096, "high", 1105, (768, 1536)),  # "170 * 6 + 85 = 1105"
        (4096, 8192, "low", 85, (4096, 8192)),  # "Regardless of input size, low ... 85"
    ],
)
def test_openai_tile_examples_from_the_vision_guide(
    width: int, height: int, detail: str, tokens: int, resized: tuple[int, int]
) -> None:
    counted = image_tokens(width, height, model="gpt-4o", detail=detail)  # type: ignore[arg-type]
    assert (counted.count, counted.resized, counted.exact) == (tokens, resized, True)
    assert counted.formula == "openai-tile"


@pytest.mark.parametrize(
    ("model", "tokens"),
    [
        ("gpt-4o-2024-08-06", 85 + 170 * 4),
        ("gpt-4.1", 85 + 170 * 4),
        ("gpt-4.5-preview", 85 + 170 * 4),
        ("gpt-4o-mini", 2833 + 5667 * 4),
        ("gpt-5", 70 + 140 * 4),
        ("gpt-5-chat-latest", 70 + 140 * 4),
        ("o1", 75 + 150 * 4),
        ("o3-2025-04-16", 75 + 150 * 4),
        ("computer-use-preview", 65 + 129 * 4),
    ],
)
def test_openai_tile_constants_per_model(model: str, tokens: int) -> None:
    # OPENAI, the "Base tokens / Tile tokens" table; a 1024x1024 image is 4 tiles.
    assert image_tokens(1024, 1024, model=model, detail="high").count == tokens


def test_gpt_image_1_scales_the_short_side_to_512() -> None:
    # OPENAI, "GPT Image 1": as above but the shortest side goes to 512; 65 + 129/tile.
    counted = image_tokens(1024, 1024, model="gpt-image-1", detail="high")
    assert (counted.resized, counted.count) == ((512, 512), 65 + 129)


def test_openai_small_images_are_not_scaled_up() -> None:
    assert image_tokens(512, 512, model="gpt-4o", detail="high").count == 85 + 170


def test_openai_auto_detail_counts_as_high_and_is_not_exact() -> None:
    counted = image_tokens(1024, 1024, model="gpt-4o")
    assert (counted.count, counted.exact) == (765, False)
    assert any("auto" in note for note in counted.notes)


# --- OpenAI patch rule: OPENAI, "Patch-based image tokenization" --------------


def test_openai_patch_example_1024_square_needs_no_resize() -> None:
    counted = image_tokens(1024, 1024, model="gpt-4.1-mini", detail="high")
    assert (counted.units, counted.resized) == (1024, (1024, 1024))
    assert counted.count == 1659  # 1024 x 1.62 = 1658.88, rounded up


def test_openai_patch_example_1800x2400_shrinks_to_1452_patches() -> None:
    # "Resized image dimensions: 1056 x 1408 ... 33 * 44 = 1452"
    counted = image_tokens(1800, 2400, model="gpt-4.1-nano", detail="high")
    assert (counted.units, counted.resized) == (1452, (1056, 1408))
    assert counted.count == 3572  # 1452 x 2.46 = 3571.92


@pytest.mark.parametrize(
    ("model", "multiplier"),
    [
        ("gpt-4.1-mini-2025-04-14", 1.62),
        ("gpt-4.1-nano", 2.46),
        ("gpt-5-mini", 1.62),
        ("gpt-5-nano-2025-08-07", 2.46),
        ("gpt-5.4-mini", 1.62),
        ("gpt-5.4-nano", 2.46),
        ("o4-mini", 1.72),
    ],
)
def test_openai_patch_multipliers(model: str, multiplier: float) -> None:
    counted = image_tokens(320, 320, model=model, detail="high")  # 100 patches
    assert counted.units == 100
    assert counted.count == round(100 * multiplier)
    assert counted.exact  # a whole number of tokens: nothing was rounded


def test_openai_patch_budget_caps_the_long_edge_at_2048() -> None:
    # "high allows up to 1,536 patches or a 2048-pixel maximum dimension"
    counted = image_tokens(4096, 64, model="o4-mini", detail="high")
    assert counted.resized == (2048, 32)
    assert counted.units == 64


def test_openai_patch_models_without_a_listed_multiplier_say_so() -> None:
    counted = image_tokens(1024, 1024, model="gpt-5.2", detail="high")
    assert (counted.count, counted.exact) == (1024, False)
    assert any("no multiplier" in note for note in counted.notes)


def test_gpt_5_5_auto_detail_is_original_with_a_10000_patch_budget() -> None:
    assert image_tokens(3200, 3200, model="gpt-5.5", detail="auto").units == 10_000
    assert image_tokens(3200, 3200, model="gpt-5.5", detail="high").units <= 2500
    assert image_tokens(3200, 3200, model="gpt-5.4", detail="auto").units <= 2500


# --- Anthropic: ANTHROPIC, "Calculate image costs" ----------------------------


@pytest.mark.parametrize(
    ("width", "height", "tokens", "resized"),
    [
        (200, 200, 64, (200, 200)),
        (1000, 1000, 1296, (1000, 1000)),
        (1092, 1092, 1521, (1092, 1092)),
        (1920, 1080, 1560, (1456, 819)),
        (2000, 1500, 1564, (1270, 952)),
        (3840, 2160, 1560, (1456, 819)),
    ],
)
def test_anthropic_table_for_claude_sonnet_4_6(
    width: int, height: int, tokens: int, resized: tuple[int, int]
) -> None:
    counted = image_tokens(width, height, model="claude-sonnet-4-6")
    assert (counted.count, counted.resized, counted.exact) == (tokens, resized, False)


@pytest.mark.parametrize(
    ("width", "height", "tokens", "resized"),
    [
        (1920, 1080, 2691, (1920, 1080)),
        (2000, 1500, 3888, (2000, 1500)),
        (3840, 2160, 4784, (2576, 1449)),
    ],
)
def test_anthropic_table_for_claude_opus_4_7_high_resolution(
    width: int, height: int, tokens: int, resized: tuple[int, int]
) -> None:
    counted = image_tokens(width, height, model="claude-opus-4-7", provider="anthropic")
    assert (counted.count, counted.resized) == (tokens, resized)


def test_anthropic_a4_page_is_limited_by_the_token_budget_not_the_edge() -> None:
    # ANTHROPIC, "How Claude resizes and pads images": 1075x1520 -> 924x1307.
    counted = image_tokens(1075, 1520, model="anthropic.claude-3-5-sonnet-20241022-v2:0")
    assert counted.resized == (924, 1307)


# --- Gemini: GEMINI ------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "tokens"),
    [(384, 384, 258), (200, 300, 258), (385, 100, 258), (1024, 1024, 4 * 258)],
)
def test_gemini_2_tiles(width: int, height: int, tokens: int) -> None:
    counted = image_tokens(width, height, model="models/gemini-2.0-flash")
    assert (counted.count, counted.exact) == (tokens, False)


def test_gemini_before_2_0_is_a_flat_258() -> None:
    assert image_tokens(4000, 3000, model="gemini-1.5-pro-002", provider="google").count == 258


# --- Errors and helpers ------------------------------------------------------


def test_an_unknown_model_lists_the_families_known() -> None:
    with pytest.raises(ValueError, match="no image-token rule for model 'llama-3'") as info:
        image_tokens(100, 100, model="llama-3")
    for family in ("gpt-4o-mini", "claude", "gemini-2.x"):
        assert family in str(info.value)
    assert set(known_families()) >= {"o4-mini", "gpt-5", "gemini-1.x"}


def test_a_provider_narrows_the_match() -> None:
    with pytest.raises(ValueError, match="provider 'anthropic'"):
        image_tokens(100, 100, model="gpt-4o", provider="anthropic")


def test_newer_models_without_a_published_rule_are_reported() -> None:
    for model in ("gpt-5.6", "gemini-3-pro-preview", "gpt-4o-mini-transcribe"):
        with pytest.raises(ValueError, match="known families"):
            image_tokens(100, 100, model=model)


@pytest.mark.parametrize(("width", "height"), [(0, 10), (10, -1), (True, 10), (1.5, 10)])
def test_dimensions_must_be_positive_integers(width: object, height: object) -> None:
    with pytest.raises(ValueError, match="must be a positive integer"):
        image_tokens(width, height, model="gpt-4o")  # type: ignore[arg-type]


def test_an_unknown_detail_is_rejected() -> None:
    with pytest.raises(ValueError, match="detail"):
        image_tokens(10, 10, model="gpt-4o", detail="medium")  # type: ignore[arg-type]


def _jpeg(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + bytes(9)
    return b"\xff\xd8" + app0 + b"\xff\xc0" + struct.pack(">HBHH", 17, 8, height, width)


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR" + struct.pack(">II", 640, 480),
        b"GIF89a" + struct.pack("<HH", 640, 480),
        _jpeg(640, 480),
        b"RIFF\x00\x00\x00\x00WEBPVP8X"
        + bytes(8)
        + (639).to_bytes(3, "little")
        + (479).to_bytes(3, "little"),
        b"RIFF\x00\x00\x00\x00WEBPVP8L"
        + bytes(4)
        + b"\x2f"
        + (639 | 479 << 14).to_bytes(4, "little"),
        b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(10) + struct.pack("<HH", 640, 480),
    ],
    ids=["png", "gif", "jpeg", "webp-vp8x", "webp-vp8l", "webp-vp8"],
)
def test_image_size_reads_headers(data: bytes) -> None:
    assert image_size(data) == (640, 480)


def test_image_size_of_something_else_is_none() -> None:
    assert image_size(b"%PDF-1.7") is None
    assert image_size(b"\x89PNG\r\n\x1a\n") is None
