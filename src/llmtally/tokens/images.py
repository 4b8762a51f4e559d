"""Image input tokens by each vendor's published rule.

One call, :func:`image_tokens`, turns an image's pixel size and the model that
reads it into a token count, and says which rule made the count and whether the
vendor documents it as exact. Model names match by ordered rules (first hit
wins, a more specific name before its prefix); a miss raises ``ValueError``
listing the families known, never a silent zero.

Sources (checked 2026; each rule below cites its own):

* OpenAI: https://developers.openai.com/api/docs/guides/images-vision#calculating-costs
  (tile and patch tokenization, per-model constants and multipliers).
* Anthropic: https://platform.claude.com/docs/en/build-with-claude/vision
  ("Evaluate image size", "Calculate image costs", "How Claude resizes and pads images").
* Google: https://ai.google.dev/gemini-api/docs/tokens#multimodal-tokens
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import partial
from typing import Literal

__all__ = ["ImageTokens", "image_size", "image_tokens", "known_families"]

Detail = Literal["auto", "low", "high"]

OPENAI_DOC = "https://developers.openai.com/api/docs/guides/images-vision#calculating-costs"
ANTHROPIC_DOC = "https://platform.claude.com/docs/en/build-with-claude/vision"
GEMINI_DOC = "https://ai.google.dev/gemini-api/docs/tokens#multimodal-tokens"


@dataclass(frozen=True, slots=True)
class ImageTokens:
    """Tokens one image costs. ``units`` are the tiles or patches counted, and
    ``resized`` the pixel size the rule measured (after any downscaling)."""

    count: int
    formula: str
    exact: bool
    family: str
    units: int
    resized: tuple[int, int]
    notes: tuple[str, ...] = ()


# --- OpenAI tile rule ------------------------------------------------------
# "Scale to fit in a 2048px x 2048px square ... scale so that the image's shortest
# side is 768px long ... count the number of 512px squares ... add the base tokens"
# (OPENAI_DOC, "Tile-based image tokenization"). Worked examples there: 1024x1024
# high = 765, 2048x4096 high = 1105, any size low = 85 (gpt-4o). Images are only
# scaled down: a 512x512 image is one tile, as the docs' older examples count it.


def _scaled(w: int, h: int, scale: Fraction) -> tuple[int, int]:
    return max(1, math.floor(w * scale)), max(1, math.floor(h * scale))


def _openai_tile(
    w: int, h: int, detail: Detail, *, family: str, base: int, tile: int, short_side: int = 768
) -> ImageTokens:
    if detail == "low":
        return ImageTokens(base, "openai-tile", True, family, 0, (w, h), ("low detail: base only",))
    if max(w, h) > 2048:
        w, h = _scaled(w, h, Fraction(2048, max(w, h)))
    if min(w, h) > short_side:
        w, h = _scaled(w, h, Fraction(short_side, min(w, h)))
    tiles = math.ceil(w / 512) * math.ceil(h / 512)
    notes = [f"{tiles} tiles of 512px at {tile} + {base} base ({OPENAI_DOC})"]
    if detail == "auto":
        notes.append("detail 'auto' counted as 'high', the upper bound")
    return ImageTokens(
        base + tile * tiles, "openai-tile", detail == "high", family, tiles, (w, h), tuple(notes)
    )


# --- OpenAI patch rule -----------------------------------------------------
# A. patches = ceil(w/32) * ceil(h/32); B. over the budget, shrink_factor =
# sqrt(32^2 * budget / (w*h)), adjusted by min(floor(w*s/32)/(w*s/32), same for h);
# C. integer pixels, patches again, capped by the budget; D. times the model's
# multiplier. Budget-1536 models also cap the long edge at 2048 px ("the lesser of
# those two constraints"). Examples: 1024x1024 -> 1024 patches; 1800x2400 -> 1056x1408
# -> 1452 patches (OPENAI_DOC, "Patch-based image tokenization").


def _patch_count(w: int, h: int, budget: int, max_edge: int) -> tuple[int, tuple[int, int]]:
    scale = 1.0
    if math.ceil(w / 32) * math.ceil(h / 32) > budget:
        scale = math.sqrt(32 * 32 * budget / (w * h))
        scale *= min(
            math.floor(w * scale / 32) / (w * scale / 32),
            math.floor(h * scale / 32) / (h * scale / 32),
        )
    scale = min(scale, max_edge / max(w, h))
    # The 1e-9 keeps 1055.9999999 (float noise in 1056) from flooring a pixel away.
    rw, rh = (max(1, math.floor(side * scale + 1e-9)) for side in (w, h))
    return min(math.ceil(rw / 32) * math.ceil(rh / 32), budget), (rw, rh)


def _openai_patch(
    w: int,
    h: int,
    detail: Detail,
    *,
    family: str,
    multiplier: float | None,
    budget: int = 1536,
    auto_original: bool = False,
) -> ImageTokens:
    notes: list[str] = []
    if detail == "low":
        limits = (256, 512)
        notes.append("low detail: the docs say the model sees a 512x512 version; counted so")
    elif detail == "auto" and auto_original:
        limits = (10_000, 6000)
        notes.append("detail 'auto' is 'original' on this model: 10,000 patches, 6000 px")
    else:
        limits = (budget, 2048)
    patches, resized = _patch_count(w, h, *limits)
    if multiplier is None:
        notes.append("no multiplier listed for this model in the docs; 1 assumed")
    else:
        notes.append(f"{patches} patches x {multiplier}, fractions rounded up")
    billed = patches * Fraction(str(multiplier or 1))
    count = math.ceil(billed)
    exact = multiplier is not None and detail == "high" and billed.denominator == 1
    return ImageTokens(count, "openai-patch", exact, family, patches, resized, tuple(notes))


# --- Anthropic -------------------------------------------------------------
# "An image therefore costs ceil(width / 28) x ceil(height / 28) visual tokens." Too
# large an image is first resized to the largest aspect-preserving size whose padded
# sides stay within the edge limit and whose cost stays within the token limit: 1568 px
# and 1568 tokens for most models; 2576 px and 4784 tokens for Claude Opus 4.7 and later
# (ANTHROPIC_DOC). Anthropic calls the cost approximate, hence exact=False.


def _claude_fits(w: int, h: int, max_edge: int, max_tokens: int) -> bool:
    pw, ph = math.ceil(w / 28), math.ceil(h / 28)
    return pw * 28 <= max_edge and ph * 28 <= max_edge and pw * ph <= max_tokens


def _claude_resize(w: int, h: int, max_edge: int, max_tokens: int) -> tuple[int, int]:
    if _claude_fits(w, h, max_edge, max_tokens):
        return w, h
    if h > w:
        rh, rw = _claude_resize(h, w, max_edge, max_tokens)
        return rw, rh
    ratio = w / h
    fits, too_big = 1, w  # binary search on the long edge, as the docs' reference does
    while fits + 1 < too_big:
        mid = (fits + too_big) // 2
        if _claude_fits(mid, max(round(mid / ratio), 1), max_edge, max_tokens):
            fits = mid
        else:
            too_big = mid
    return fits, max(round(fits / ratio), 1)


def _anthropic(
    w: int, h: int, detail: Detail, *, family: str, max_edge: int, max_tokens: int
) -> ImageTokens:
    rw, rh = _claude_resize(w, h, max_edge, max_tokens)
    patches = math.ceil(rw / 28) * math.ceil(rh / 28)
    notes = [f"28px patches; limits {max_edge} px, {max_tokens} tokens ({ANTHROPIC_DOC})"]
    if detail != "auto":
        notes.append("Anthropic has no detail setting; ignored")
    return ImageTokens(
        patches, "anthropic-28px-patch", False, family, patches, (rw, rh), tuple(notes)
    )


# --- Gemini ----------------------------------------------------------------
# "Image inputs with both dimensions <=384 pixels are counted as 258 tokens. Images
# larger in one or both dimensions are cropped and scaled as needed into tiles of
# 768x768 pixels, each counted as 258 tokens. Prior to Gemini 2.0, images used a
# fixed 258 tokens." (GEMINI_DOC). The crop rule is not published: tiles are counted
# as ceil(w/768) * ceil(h/768). Users report gemini-2.5 billing a flat 258 whatever
# the size (github.com/googleapis/python-genai/issues/1349), so exact=False.


def _gemini_tiles(w: int, h: int, detail: Detail, *, family: str) -> ImageTokens:
    tiles = 1 if w <= 384 and h <= 384 else math.ceil(w / 768) * math.ceil(h / 768)
    notes = (f"{tiles} tiles of 768px at 258 ({GEMINI_DOC})",)
    return ImageTokens(258 * tiles, "gemini-768-tile", False, family, tiles, (w, h), notes)


def _gemini_flat(w: int, h: int, detail: Detail, *, family: str) -> ImageTokens:
    notes = (
        f"before Gemini 2.0 every image is 258 tokens ({GEMINI_DOC}); the older vision "
        "page described 1.5 tiling instead",
    )
    return ImageTokens(258, "gemini-flat", False, family, 1, (w, h), notes)


# --- Families --------------------------------------------------------------

_Rule = Callable[[int, int, Detail], ImageTokens]
_DATED = r"(-\d{4}-\d{2}-\d{2}|-latest)?"


@dataclass(frozen=True, slots=True)
class _Family:
    name: str
    vendor: str
    pattern: re.Pattern[str]
    rule: _Rule


def _openai(name: str, pattern: str, rule: Callable[..., ImageTokens], **kw: object) -> _Family:
    regex = re.compile(rf"(?:{pattern}){_DATED}")
    return _Family(name, "openai", regex, partial(rule, family=name, **kw))


def _prefixed(
    name: str, vendor: str, pattern: str, rule: Callable[..., ImageTokens], **kw: object
) -> _Family:
    regex = re.compile(rf"(?:{pattern}).*")
    return _Family(name, vendor, regex, partial(rule, family=name, **kw))


_FAMILIES: tuple[_Family, ...] = (
    _openai("gpt-4.1-mini", r"gpt-4\.1-mini", _openai_patch, multiplier=1.62),
    _openai("gpt-4.1-nano", r"gpt-4\.1-nano", _openai_patch, multiplier=2.46),
    _openai("gpt-5-mini / gpt-5.4-mini", r"gpt-5(\.4)?-mini", _openai_patch, multiplier=1.62),
    _openai("gpt-5-nano / gpt-5.4-nano", r"gpt-5(\.4)?-nano", _openai_patch, multiplier=2.46),
    _openai("o4-mini", r"o4-mini", _openai_patch, multiplier=1.72),
    _openai(
        "gpt-5.2 / codex (1536 patches)",
        r"gpt-5\.2(-chat-latest|-codex)?|gpt-5\.3-codex|gpt-5(\.1)?-codex-mini",
        _openai_patch,
        multiplier=None,
    ),
    _openai("gpt-5.4", r"gpt-5\.4", _openai_patch, multiplier=None, budget=2500),
    _openai(
        "gpt-5.5", r"gpt-5\.5", _openai_patch, multiplier=None, budget=2500, auto_original=True
    ),
    _openai("gpt-5", r"gpt-5(-chat-latest)?", _openai_tile, base=70, tile=140),
    _openai("gpt-4o-mini", r"gpt-4o-mini", _openai_tile, base=2833, tile=5667),
    _openai(
        "gpt-4o / gpt-4.1 / gpt-4.5",
        r"(chatgpt-)?gpt-4o|gpt-4\.1|gpt-4\.5(-preview)?",
        _openai_tile,
        base=85,
        tile=170,
    ),
    _openai("o1 / o1-pro / o3", r"o1(-pro)?|o3", _openai_tile, base=75, tile=150),
    _openai("computer-use-preview", r"computer-use-preview", _openai_tile, base=65, tile=129),
    _openai("gpt-image-1", r"gpt-image-1", _openai_tile, base=65, tile=129, short_side=512),
    _prefixed(
        "claude (high resolution: opus 4.7+)",
        "anthropic",
        r".*claude-(opus-4-[789]|fable-5|mythos-5)",
        _anthropic,
        max_edge=2576,
        max_tokens=4784,
    ),
    _prefixed("claude", "anthropic", r".*claude", _anthropic, max_edge=1568, max_tokens=1568),
    _prefixed("gemini-1.x", "google", r"gemini-1\.[05]|gemini-pro-vision", _gemini_flat),
    _prefixed("gemini-2.x", "google", r"gemini-2\.[05]", _gemini_tiles),
)

_VENDORS = {"openai": "openai", "azure": "openai", "anthropic": "anthropic"}
_VENDORS |= {"google": "google", "gemini": "google", "vertex": "google"}


def known_families() -> tuple[str, ...]:
    """The model families :func:`image_tokens` has a rule for, in match order."""
    return tuple(family.name for family in _FAMILIES)


def _family(model: str, provider: str | None) -> _Family:
    name = model.strip().lower().rsplit("/", 1)[-1]
    vendor = _VENDORS.get((provider or "").strip().lower())
    for family in _FAMILIES:
        if (vendor is None or family.vendor == vendor) and family.pattern.fullmatch(name):
            return family
    raise ValueError(
        f"no image-token rule for model {model!r}"
        + (f" (provider {provider!r})" if provider else "")
        + f"; known families: {', '.join(known_families())}"
    )


def image_tokens(
    width: int,
    height: int,
    *,
    model: str,
    provider: str | None = None,
    detail: Detail = "auto",
) -> ImageTokens:
    """Tokens an image of ``width`` x ``height`` pixels costs as input to ``model``.

    ``provider`` narrows the match to one vendor's families when it names one
    (openai, azure, anthropic, google, gemini, vertex). ``detail`` is OpenAI's
    setting; ``auto`` is counted as ``high`` and then marked inexact.
    """
    for label, side in (("width", width), ("height", height)):
        if isinstance(side, bool) or not isinstance(side, int) or side <= 0:
            raise ValueError(f"image {label} must be a positive integer, got {side!r}")
    if detail not in ("auto", "low", "high"):
        raise ValueError(f"detail must be 'auto', 'low' or 'high', got {detail!r}")
    return _family(model, provider).rule(width, height, detail)


# --- Reading a size from image bytes ---------------------------------------

_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
        elif marker in _JPEG_SOF:
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        elif 0xD0 <= marker <= 0xD9 or marker == 0x01:  # markers without a length
            i += 2
        else:
            i += 2 + struct.unpack(">H", data[i + 2 : i + 4])[0]
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    return None


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) read from the header of PNG, GIF, JPEG or WebP bytes; None
    when the format is not one of those or the header is cut short."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_size(data)
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    return None
