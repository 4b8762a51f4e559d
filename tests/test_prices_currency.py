"""``llmtally prices`` shows each price in its own currency, its thinking price and
the length tiers with their output condition, at 80 columns.

Expected prices are the official pages' figures as the price files quote them:
- moonshot-cn/kimi-k2.5 (https://platform.moonshot.cn/docs/pricing/chat, page
  version 2026-02-09): cache miss ¥4.00, cache hit ¥0.70, output ¥21.00 per 1M;
- moonshot/kimi-k2.5 (the international page, USD): $0.60 / $0.10 / $3.00;
- alibaba-cn/qwen-plus (https://help.aliyun.com/zh/model-studio/model-pricing,
  中国内地): input ¥0.8, output ¥2 non-thinking / ¥8 thinking; 128K<Token≤256K
  ¥2.4, ¥20 / ¥24; 256K<Token≤1M ¥4.8, ¥48 / ¥64 (K = 1,024: bounds 131,072
  and 262,144);
- volcengine/doubao-seed-1-8 (https://www.volcengine.com/docs/82379/1544106):
  input [0, 32] and output (0.2, +inf) ¥0.80 / ¥0.16 / ¥8.00; (32, 128] ¥1.20 /
  ¥16.00; (128, 256] ¥2.40 / ¥24.00 (cache hit ¥0.16 throughout).
The JPY/CNY symbols use a synthetic override file (no JPY price file ships).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from narrow_support import readable, row_of, stdout_of


@pytest.fixture(autouse=True)
def _eighty_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("LLMTALLY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LLMTALLY_PRICES", raising=False)


def _json(*args: str) -> dict[str, dict[str, Any]]:
    rows = json.loads(stdout_of("prices", *args, "--json"))
    return {f"{r['provider']}/{r['model']}": r for r in rows}


def test_a_cny_file_shows_yuan_and_a_usd_file_dollars() -> None:
    lines = readable(stdout_of("prices", "kimi-k2.5"))
    assert row_of(lines, "moonshot-cn/kimi-k2.5")[1:4] == ["¥4.00", "¥0.70", "¥21.00"]
    assert row_of(lines, "moonshot/kimi-k2.5")[1:4] == ["$0.60", "$0.10", "$3.00"]
    # the title names both currencies with their signs, not "(USD)"
    assert any("(¥ CNY, $ USD)" in line for line in lines)
    assert not any("(USD)" in line for line in lines)


def test_one_currency_is_named_in_the_title() -> None:
    lines = readable(stdout_of("prices", "moonshot-cn/kimi-k2.5"))
    assert any("Prices per 1M tokens (CNY), in force now" in line for line in lines)
    lines = readable(stdout_of("prices", "openai/gpt-4o"))
    assert any("Prices per 1M tokens (USD), in force now" in line for line in lines)


def test_json_has_the_currency_and_keeps_the_usd_keys() -> None:
    rows = _json("kimi-k2.5")
    cn, intl = rows["moonshot-cn/kimi-k2.5"], rows["moonshot/kimi-k2.5"]
    assert cn["currency"] == "CNY"
    assert (cn["input_per_1m"], cn["cache_read_per_1m"], cn["output_per_1m"]) == (
        "4.00",
        "0.70",
        "21.00",
    )
    assert intl["currency"] == "USD"
    assert (intl["input_per_1m"], intl["output_per_1m"]) == ("0.60", "3.00")


def test_the_thinking_price_is_a_column_and_in_json() -> None:
    lines = readable(stdout_of("prices", "alibaba-cn/qwen-plus"))
    header = next(line for line in lines if "provider/model" in line)
    assert "thinking" in header.split()
    # input ¥0.8, no cache price, output ¥2, thinking ¥8
    assert row_of(lines, "alibaba-cn/qwen-plus")[1:5] == ["¥0.80", "-", "¥2.00", "¥8.00"]
    row = _json("alibaba-cn/qwen-plus")["alibaba-cn/qwen-plus"]
    assert row["output_thinking_per_1m"] == "8"


def test_no_thinking_column_where_no_row_has_a_thinking_price() -> None:
    lines = readable(stdout_of("prices", "openai/gpt-4o"))
    header = next(line for line in lines if "provider/model" in line)
    assert "thinking" not in header.split()


def test_length_tiers_show_the_output_condition() -> None:
    lines = readable(stdout_of("prices", "doubao-seed-1-8"))
    start = next(i for i, line in enumerate(lines) if "Length tiers" in line)
    tiers = lines[start:]
    # the title says what a tier's rate replaces (it ended at "re-priced at")
    title = " ".join(" ".join(tiers[:2]).split())
    assert "re-priced at the tier's rate, else the model's" in title
    # output over 200 tokens (any prompt): ¥0.80 in, ¥0.16 cached, ¥8.00 out
    assert row_of(tiers, "volcengine/doubao-seed-1-8") == [
        "volcengine/doubao-seed-1-8",
        "output",
        ">",
        "200",
        "¥0.80",
        "¥0.16",
        "¥8.00",
    ]
    # prompt over 32,000 (any output): ¥1.20 / ¥0.16 / ¥16.00; over 128,000: ¥2.40 / ¥24.00
    assert ["prompt", ">", "32,000", "¥1.20", "¥0.16", "¥16.00"] in [r.split() for r in tiers]
    assert ["prompt", ">", "128,000", "¥2.40", "¥0.16", "¥24.00"] in [r.split() for r in tiers]
    cliffs = _json("doubao-seed-1-8")["volcengine/doubao-seed-1-8"]["long_context"]
    assert cliffs[0] == {"above": 0, "output_above": 200, "output_per_1m": "8.00"}
    assert cliffs[1] == {
        "above": 32000,
        "output_above": None,
        "input_per_1m": "1.20",
        "output_per_1m": "16.00",
    }


def test_length_tiers_show_the_thinking_price_of_each_tier() -> None:
    lines = readable(stdout_of("prices", "alibaba-cn/qwen-plus"))
    tiers = lines[next(i for i, line in enumerate(lines) if "Length tiers" in line) :]
    # 128K < prompt <= 256K: ¥2.4 in, ¥20 out, ¥24 thinking; above 256K: ¥4.8, ¥48, ¥64
    assert row_of(tiers, "alibaba-cn/qwen-plus")[1:] == [
        "prompt",
        ">",
        "131,072",
        "¥2.40",
        "-",
        "¥20.00",
        "¥24.00",
    ]
    assert ["prompt", ">", "262,144", "¥4.80", "-", "¥48.00", "¥64.00"] in [
        r.split() for r in tiers
    ]


OVERRIDE = """\
providers:
  - provider: acme-cn
    name: ACME CN
    pricing_url: https://acme.example/cn
    currency: CNY
    models:
      - id: sakura-cn
        prices:
          - {source: "https://acme.example/cn", input: "1.5", output: "6"}
  - provider: acme-jp
    name: ACME JP
    pricing_url: https://acme.example/jp
    currency: JPY
    models:
      - id: sakura-jp
        prices:
          - {source: "https://acme.example/jp", input: "150", output: "600"}
"""


def test_yuan_and_yen_together_get_distinct_signs(tmp_path: Path) -> None:
    override = tmp_path / "prices.yaml"
    override.write_text(OVERRIDE)
    lines = readable(stdout_of("prices", "sakura", "--prices-file", str(override)))
    assert row_of(lines, "acme-cn/sakura-cn")[1:4] == ["CN¥1.50", "-", "CN¥6.00"]
    assert row_of(lines, "acme-jp/sakura-jp")[1:4] == ["JP¥150.00", "-", "JP¥600.00"]
    assert any("(CN¥ CNY, JP¥ JPY)" in line for line in lines)
    # alone, the yuan is plain ¥ again
    lines = readable(stdout_of("prices", "sakura-cn", "--prices-file", str(override)))
    assert row_of(lines, "acme-cn/sakura-cn")[1:4] == ["¥1.50", "-", "¥6.00"]


def test_json_has_every_rate_the_file_sets() -> None:
    """Rates the table has no column for are in ``--json``'s ``rates`` (a new user's
    trial found MiniMax's cache write and GLM-TTS's per-character price shown nowhere).
    minimax.yaml MiniMax-M2.7: input ¥2.1, cache read ¥0.42, output ¥8.4, cache write
    ¥2.625 (125% of 2.1); zhipu.yaml glm-tts: ¥200 per 1M characters."""
    m27 = _json("minimax/MiniMax-M2.7")["minimax/MiniMax-M2.7"]
    assert m27["rates"] == {"input": "2.1", "cache_read": "0.42", "output": "8.4",
                            "cache_write": "2.625"}  # fmt: skip
    tts = _json("zhipu/glm-tts")["zhipu/glm-tts"]
    assert tts["rates"] == {"characters": "200"} and tts["currency"] == "CNY"
