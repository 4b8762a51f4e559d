"""A discount in the override file that would apply to nothing is an error with
the file and line, not a silent no-op (new-user trial): an unknown provider
(``alibabacn`` for ``alibaba-cn``) names the nearest known providers, and a model
pattern that matches none of the provider's models names the nearest models. A
provider alias is taken and the discount applies under the provider's own name.

Prices: the shipped alibaba-cn qwen-plus list price, ¥0.80 input / ¥2.00 output per
1M tokens (src/llmtally/catalog/data/alibaba_cn.yaml, from
https://help.aliyun.com/zh/model-studio/model-pricing).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtally.catalog import Catalog
from llmtally.catalog.loader import CatalogFileError
from llmtally.cli import app


def _override(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(body, encoding="utf-8")
    return path


TYPO = """\
discounts:
  - provider: alibabacn
    models: ["qwen-*"]
    factor: "0.85"
"""


def test_an_unknown_provider_is_an_error_naming_the_nearest(tmp_path: Path) -> None:
    path = _override(tmp_path, TYPO)
    with pytest.raises(CatalogFileError) as caught:
        Catalog.load(override=path)
    text = str(caught.value)
    # line 2 is "  - provider: alibabacn"
    assert text.startswith(f"{path}:2: discounts: unknown provider 'alibabacn'")
    assert "nearest known:" in text
    assert "alibaba-cn" in text.split("nearest known:")[1]


def test_the_cli_refuses_the_typo_with_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMTALLY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LLMTALLY_PRICES", raising=False)
    path = _override(tmp_path, TYPO)
    done = CliRunner().invoke(app, ["prices", "--prices-file", str(path), "alibaba-cn/qwen-plus"])
    assert done.exit_code == 2
    assert "p.yaml:2: discounts: unknown provider 'alibabacn'" in done.stderr
    assert "Traceback" not in done.output


def test_a_pattern_matching_no_model_is_an_error(tmp_path: Path) -> None:
    path = _override(
        tmp_path,
        "discounts:\n"
        "  - provider: alibaba-cn\n"
        "    models:\n"
        "      - qwen-plus\n"
        "      - qwen-plsu*\n"  # line 5: a typo, matches nothing
        '    factor: "0.85"\n',
    )
    with pytest.raises(CatalogFileError) as caught:
        Catalog.load(override=path)
    text = str(caught.value)
    assert text.startswith(f"{path}:5: discounts: 'qwen-plsu*' matches no model of alibaba-cn")
    assert "nearest:" in text
    assert "qwen-plus" in text.split("nearest:")[1]


@pytest.mark.parametrize("provider", ["alibaba-cn", "alibaba_cn", "Alibaba-CN"])
def test_a_known_provider_or_alias_applies(tmp_path: Path, provider: str) -> None:
    path = _override(
        tmp_path,
        f'discounts:\n  - {{provider: {provider}, models: ["qwen-plus"], factor: "0.85"}}\n',
    )
    rates = Catalog.load(override=path).price_at("alibaba-cn", "qwen-plus").rates
    # ¥0.80 x 0.85 = ¥0.68 input; ¥2.00 x 0.85 = ¥1.70 output (per 1M)
    assert (rates.input, rates.output) == (Decimal("0.68"), Decimal("1.70"))


def test_a_discount_on_every_model_of_a_provider_needs_no_pattern(tmp_path: Path) -> None:
    path = _override(tmp_path, 'discounts:\n  - {provider: alibaba-cn, factor: "0.5"}\n')
    rates = Catalog.load(override=path).price_at("alibaba-cn", "qwen-plus").rates
    assert rates.input == Decimal("0.40")  # ¥0.80 x 0.5
