"""Model names match by rules: exact, dated snapshot, prefix, regex; layers; misses."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from llmtally.catalog import Catalog, UnknownModelError, UnknownProviderError

BUILTIN = """\
provider: acme
name: ACME
pricing_url: https://acme.example/pricing
aliases: [acme-ai]
models:
  - id: rocket
    aliases: [rocket-latest]
    prices:
      - {source: "https://acme.example/pricing", input: "1", output: "2"}
  - id: rocket-2024-05-13
    prices:
      - {source: "https://acme.example/pricing", input: "5", output: "15"}
  - id: rocket-mini
    prices:
      - {source: "https://acme.example/pricing", input: "0.1", output: "0.2"}
  - id: sled
    match: {prefix: ["sled-"], regex: ["^skid-v[0-9]+$"]}
    prices:
      - {source: "https://acme.example/pricing", input: "3", output: "4"}
"""

OTHER = """\
provider: zeta
name: Zeta
pricing_url: https://zeta.example/pricing
models:
  - id: rocket
    prices:
      - {source: "https://zeta.example/pricing", input: "9", output: "9"}
  - id: acme/rocket
    prices:
      - {source: "https://zeta.example/pricing", input: "7", output: "7"}
"""


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    (tmp_path / "acme.yaml").write_text(BUILTIN)
    (tmp_path / "zeta.yaml").write_text(OTHER)
    return Catalog.load(builtin=tmp_path)


def _input(catalog: Catalog, provider: str | None, model: str) -> Decimal | None:
    return catalog.price_at(provider, model).rates.input


@pytest.mark.parametrize(
    ("provider", "model", "expected"),
    [
        ("acme", "rocket", Decimal("1")),
        ("acme", "ROCKET", Decimal("1")),
        ("acme", "rocket-latest", Decimal("1")),
        ("acme", "rocket-2024-08-06", Decimal("1")),  # dated snapshot -> base id
        ("acme", "rocket-20241022", Decimal("1")),
        ("acme", "rocket-0613", Decimal("1")),
        ("acme", "rocket-2024-05-13", Decimal("5")),  # a snapshot with its own price wins
        ("acme", "rocket-mini", Decimal("0.1")),  # not a snapshot of rocket
        ("acme", "sled-turbo", Decimal("3")),  # prefix rule
        ("acme", "skid-v2", Decimal("3")),  # regex rule
        (None, "acme/rocket", Decimal("1")),  # provider prefix
        ("openrouter-like", "acme/rocket", Decimal("1")),  # unknown router, known prefix
        ("acme-ai", "rocket", Decimal("1")),  # provider alias
        ("zeta", "rocket", Decimal("9")),  # same id, other provider
        (None, "zeta/rocket", Decimal("9")),
        ("zeta", "acme/rocket", Decimal("7")),  # a host's own listing of another's model
        ("zeta", "acme/rocket-latest", Decimal("1")),  # not listed by the host: the owner's
    ],
)
def test_names_resolve_by_rules(
    catalog: Catalog, provider: str | None, model: str, expected: Decimal
) -> None:
    assert _input(catalog, provider, model) == expected


def test_a_miss_names_the_nearest_known_models(catalog: Catalog) -> None:
    with pytest.raises(UnknownModelError) as info:
        catalog.price_at("acme", "rockett")
    assert str(info.value).startswith("unknown model 'rockett' for provider 'acme'; nearest known:")
    assert "acme/rocket" in info.value.near  # with its provider: a name every command takes
    with pytest.raises(UnknownModelError) as unscoped:
        catalog.price_at(None, "acme/rockett")
    assert "acme/rocket" in unscoped.value.near


def test_rocketship_does_not_match_rocket(catalog: Catalog) -> None:
    with pytest.raises(UnknownModelError):
        catalog.price_at("acme", "rocketship")


def test_an_unknown_provider_lists_the_known_ones(catalog: Catalog) -> None:
    with pytest.raises(UnknownProviderError, match="unknown provider 'nope'; known: acme, acme-ai"):
        catalog.price_at("nope", "rocket")


def test_an_import_ranks_below_the_hand_checked_files_and_above_the_seed(
    catalog: Catalog, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    (home / "catalog").mkdir(parents=True)
    seed = tmp_path / "seed"
    seed.mkdir()
    (seed / "acme.json").write_text(
        '{"provider": "acme", "name": "Acme", "pricing_url": "https://acme.example/pricing",'
        ' "models": [{"id": "sled-xl", "prices": [{"source": "https://acme.example/pricing",'
        ' "input": "40", "output": "40"}]}]}'
    )
    imported = BUILTIN.replace('input: "1"', 'input: "0.9"').replace('input: "3"', 'input: "2.5"')
    imported = imported.replace("id: sled", "id: sled-xl")
    (home / "catalog" / "mine.yaml").write_text(imported)
    layered = Catalog.load(home=home, builtin=tmp_path)
    assert _input(layered, "acme", "rocket") == Decimal("1")  # hand-checked: kept
    assert _input(layered, "acme", "sled-xl") == Decimal("2.5")  # the import, over the seed
    without = Catalog.load(builtin=tmp_path)
    assert _input(without, "acme", "sled-xl") == Decimal("40")


def test_a_dated_snapshot_of_a_hand_checked_model_keeps_its_history(tmp_path: Path) -> None:
    (tmp_path / "acme.yaml").write_text(BUILTIN)
    home = tmp_path / "home"
    (home / "catalog").mkdir(parents=True)
    (home / "catalog" / "snap.yaml").write_text(
        "provider: acme\nname: Acme\npricing_url: https://acme.example/pricing\nmodels:\n"
        "  - id: rocket-2025-01-01\n    prices:\n"
        "      - {source: 'https://acme.example/pricing', input: '0.5', output: '0.5'}\n"
    )
    layered = Catalog.load(home=home, builtin=tmp_path)
    assert _input(layered, "acme", "rocket-2025-01-01") == Decimal("1")


def test_override_file_discounts_and_custom_models(tmp_path: Path) -> None:
    (tmp_path / "acme.yaml").write_text(BUILTIN)
    override = tmp_path / "home" / "prices.yaml"
    override.parent.mkdir()
    override.write_text(
        "discounts:\n"
        "  - {provider: acme, models: ['rocket*'], factor: '0.8', note: contract}\n"
        "providers:\n"
        "  - provider: inhouse\n"
        "    name: In-house\n"
        "    pricing_url: https://wiki.example/llm\n"
        "    models:\n"
        "      - id: tuned-7b\n"
        "        prices:\n"
        "          - {source: 'https://wiki.example/llm', input: '0.2', output: '0.4'}\n"
    )
    catalog = Catalog.load(builtin=tmp_path, override=override)
    assert _input(catalog, "acme", "rocket") == Decimal("0.8")
    assert _input(catalog, "acme", "rocket-mini") == Decimal("0.08")
    assert _input(catalog, "acme", "sled") == Decimal("3")  # not named by the discount
    assert _input(catalog, "inhouse", "tuned-7b") == Decimal("0.2")


def test_a_typo_in_the_override_file_is_reported(tmp_path: Path) -> None:
    from llmtally.catalog import CatalogFileError

    override = tmp_path / "home" / "prices.yaml"
    override.parent.mkdir()
    override.write_text("discounts:\n  - {provider: acme, factr: '0.8'}\n")
    with pytest.raises(CatalogFileError, match=r"prices.yaml:2: discounts.0.factr: Extra inputs"):
        Catalog.load(builtin=tmp_path, override=override)


def test_a_miss_is_remembered_and_the_memory_is_bounded(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmtally.catalog import matching

    searches: list[str] = []
    near = matching.MatchIndex.near
    monkeypatch.setattr(
        matching.MatchIndex, "near", lambda self, p, n: searches.append(n) or near(self, p, n)
    )
    messages = []
    for _ in range(3):  # a gateway sees the same unknown name call after call
        with pytest.raises(UnknownModelError) as info:
            catalog.price_at("acme", "rockett")
        messages.append((str(info.value), info.value.near))
    assert searches == ["rockett"]  # the nearest names were searched once
    assert messages[0] == messages[1] == messages[2]
    monkeypatch.setattr(matching, "MAX_REMEMBERED", 3)
    for name in ("a1", "a2", "a3", "a4"):  # distinct names: the memory starts again
        with pytest.raises(UnknownModelError):
            catalog.price_at("acme", name)
    with pytest.raises(UnknownModelError):
        catalog.price_at("acme", "rockett")  # forgotten when the table was full
    assert searches == ["rockett", "a1", "a2", "a3", "a4", "rockett"]


def test_a_typo_suggests_each_name_with_its_providers_in_resolution_order() -> None:
    """OpenAI lists gpt-4.1-2025-04-14 and so do the three Azure files
    (openai_azure*.yaml load after openai.yaml): the vendor, which a bare name
    resolves to, comes first, not the alphabetically first ``azure``."""
    with pytest.raises(UnknownModelError) as caught:
        Catalog.load().lookup(None, "gpt-4.1-2025-04-1")
    assert caught.value.near[:4] == [
        "openai/gpt-4.1-2025-04-14",
        "azure/gpt-4.1-2025-04-14",
        "azure-datazone/gpt-4.1-2025-04-14",
        "azure-regional/gpt-4.1-2025-04-14",
    ]
