"""Realised savings (issue 15): a ledger with changes applied mid-period shows
each one's saving measured before vs after, to the cent and exactly.

The period is the 15 days 2026-11-01 to 2026-11-16 (UTC). Prices (built-in
catalog, openai.yaml), USD per 1M tokens: gpt-4o 2.50 in / 10.00 out;
gpt-4o-mini 0.15 / 0.60, batch 0.075 / 0.30.

- summarise (X), detected right-size: 30 calls a day on gpt-4o from Nov 1 to 5
  (150), then 15 a day on gpt-4o-mini from Nov 6 to 15 (150), plus 2 stragglers
  on gpt-4o on Nov 6. Each call 10,000 in / 1,000 out:
  gpt-4o 0.01 x 2.50 + 0.001 x 10 = $0.035; gpt-4o-mini 0.0015 + 0.0006 = $0.0021.
- nightly (Y), detected batch: 10 calls a day on gpt-4o-mini at the standard tier
  from Nov 1 to 7 (70), then 10 a day at the batch tier from Nov 8 to 15 (80).
  Each 100,000 in / 10,000 out: standard 0.015 + 0.006 = $0.021, batch $0.0105.
- support (Z), marked trim_prompt at Nov 9 12:00: a gpt-4o-mini call every 6 h
  all period; 20,000 in / 1,000 out before (0.003 + 0.0006 = $0.0036), 8,000 in /
  1,000 out from the change (0.0012 + 0.0006 = $0.0018).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from advisor_synthetic import SINCE, UNTIL, LedgerBuilder, planted
from llmtally.advisor.applied import AppliedError, list_applied, mark_applied, remove_applied
from llmtally.advisor.export import advice_json
from llmtally.advisor.realised import Realised, realised_savings, with_realised
from llmtally.advisor.recommendation import Advice
from llmtally.catalog import Catalog
from llmtally.cli.advise_applied import print_realised
from llmtally.ledger import Store, open_store
from llmtally.ledger.migrations import MIGRATIONS
from llmtally.usage import Usage
from test_ledger_support import db_url, pg_base_url, store  # noqa: F401

CATALOG = Catalog.load()
TRIMMED_AT = dt.datetime(2026, 11, 9, 12, 0, tzinfo=dt.UTC)
X_CALL = Usage(input_tokens=10_000, output_tokens=1_000)
Y_CALL = Usage(input_tokens=100_000, output_tokens=10_000)
Y_BATCH = Usage(input_tokens=100_000, output_tokens=10_000, service_tier="batch")
Z_LONG = Usage(input_tokens=20_000, output_tokens=1_000)
Z_TRIMMED = Usage(input_tokens=8_000, output_tokens=1_000)


def _day(n: int) -> dt.datetime:
    """Midnight UTC of November ``n``."""
    return dt.datetime(2026, 11, n, tzinfo=dt.UTC)


def applied_ledger() -> LedgerBuilder:
    b = LedgerBuilder(CATALOG)
    for day in range(1, 16):
        if day <= 5:
            for k in range(30):
                b.add("summarise", "gpt-4o", _day(day) + dt.timedelta(minutes=20 * k), X_CALL)
        else:
            for k in range(15):
                at = _day(day) + dt.timedelta(minutes=60 * k + 30)
                b.add("summarise", "gpt-4o-mini", at, X_CALL)
        for k in range(10):
            at = _day(day) + dt.timedelta(hours=2 * k + 1)
            b.add("nightly", "gpt-4o-mini", at, Y_CALL if day <= 7 else Y_BATCH)
        for hour in (0, 6, 12, 18):
            at = _day(day) + dt.timedelta(hours=hour)
            b.add("support", "gpt-4o-mini", at, Z_LONG if at < TRIMMED_AT else Z_TRIMMED)
    for minutes in (5, 10):  # stragglers still on gpt-4o the day of the switch
        b.add("summarise", "gpt-4o", _day(6) + dt.timedelta(minutes=minutes), X_CALL)
    return b


def _filled(opened: Store) -> Store:
    applied_ledger().store(opened)
    mark_applied(opened, "trim_prompt", "support", TRIMMED_AT, note="v2 prompt, no examples")
    return opened


def _by_feature(found: tuple[Realised, ...]) -> dict[str, Realised]:
    return {item.where["feature"]: item for item in found}


def test_the_migration_is_registered_in_order() -> None:
    names = [name for name, _ in MIGRATIONS]
    assert "m0014_advice_applied" in names and names == sorted(names)


def test_each_change_and_its_realised_saving(store: Store) -> None:  # noqa: F811
    found = _by_feature(realised_savings(_filled(store), CATALOG, SINCE, UNTIL))
    assert set(found) == {"summarise", "nightly", "support"}

    x = found["summarise"]
    assert (x.kind, x.how_known, x.applied_at) == ("right_size", "detected", _day(6))
    assert (x.where["from"], x.where["to"]) == ("openai/gpt-4o", "openai/gpt-4o-mini")
    # 150 calls before on gpt-4o (Nov 1-5); 150 after on gpt-4o-mini (the 2 stragglers
    # on gpt-4o after the switch are not re-priced: they did not change)
    assert (x.calls_before, x.calls_after) == (150, 150)
    assert (x.cost_per_call_before, x.cost_per_call_after) == (Decimal("0.035"), Decimal("0.0021"))
    # 150 calls x (10,000 x ($2.50 - $0.15) + 1,000 x ($10.00 - $0.60)) / 1M
    # = 150 x (0.0235 + 0.0094) = 150 x 0.0329 = $4.935
    assert x.period_saving == Decimal("4.935")
    # 10 days after (Nov 6 to 16): x 30 / 10 = $14.805
    assert x.monthly_saving == Decimal("14.805")
    assert "re-priced" in x.method and x.note is None

    y = found["nightly"]
    assert (y.kind, y.how_known, y.applied_at) == ("batch", "detected", _day(8))
    assert y.where["to"] == "openai/gpt-4o-mini (batch)"
    assert (y.calls_before, y.calls_after) == (70, 80)
    # 80 batch calls x ($0.021 standard - $0.0105 batch) = $0.84; 8 days after: x 30/8 = $3.15
    assert y.period_saving == Decimal("0.84")
    assert y.monthly_saving == Decimal("3.15")
    assert (y.cost_per_call_before, y.cost_per_call_after) == (Decimal("0.021"), Decimal("0.0105"))

    z = found["support"]
    assert (z.kind, z.how_known, z.applied_at) == ("trim_prompt", "marked", TRIMMED_AT)
    # after: Nov 9 12:00 to Nov 16 00:00 = 6.5 days: 2 calls on Nov 9 + 6 days x 4 = 26;
    # before, as long just before: Nov 3 00:00 to Nov 9 12:00: 6 days x 4 + 2 = 26
    assert (z.calls_before, z.calls_after) == (26, 26)
    assert (z.cost_per_call_before, z.cost_per_call_after) == (Decimal("0.0036"), Decimal("0.0018"))
    # ($0.0036 - $0.0018) x 26 calls = $0.0468; x 30 / 6.5 days = 1.404 / 6.5 = $0.216
    assert z.period_saving == Decimal("0.0468")
    assert z.monthly_saving == Decimal("0.216")
    assert z.note == "v2 prompt, no examples" and "cost per call" in z.method

    # the most saving first
    assert [r.where["feature"] for r in realised_savings(store, CATALOG, SINCE, UNTIL)] == [
        "summarise", "nightly", "support",
    ]  # fmt: skip


def test_no_change_no_realised_entry(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'steady.sqlite3'}") as opened:
        planted(CATALOG).store(opened)  # every feature on one model and tier all period
        assert realised_savings(opened, CATALOG, SINCE, UNTIL) == ()
        advice = Advice(SINCE, UNTIL, Decimal(1))
        assert with_realised(opened, CATALOG, advice) is advice


def test_a_change_that_cost_more_is_negative(tmp_path: Path) -> None:
    b = LedgerBuilder(CATALOG)
    for day in range(1, 16):
        model = "gpt-4o-mini" if day <= 5 else "gpt-4o"
        for k in range(10):
            b.add("draft", model, _day(day) + dt.timedelta(hours=k), X_CALL)
    with open_store(f"sqlite:///{tmp_path / 'up.sqlite3'}") as opened:
        b.store(opened)
        [up] = realised_savings(opened, CATALOG, SINCE, UNTIL)
    # 100 calls on gpt-4o after Nov 6 x ($0.0021 - $0.035) = -$3.29; 10 days: x 3 = -$9.87
    assert (up.kind, up.period_saving, up.monthly_saving) == (
        "right_size", Decimal("-3.29"), Decimal("-9.87"),
    )  # fmt: skip


def test_a_mark_replaces_the_detected_entry_and_is_measured_the_same(
    tmp_path: Path,
) -> None:
    with open_store(f"sqlite:///{tmp_path / 'both.sqlite3'}") as opened:
        applied_ledger().store(opened)
        mark_applied(opened, "batch", "nightly", _day(8))
        found = _by_feature(realised_savings(opened, CATALOG, SINCE, UNTIL))
    y = found["nightly"]
    # marked: the batch calls after re-priced at the standard tier: 80 x $0.0105 = $0.84;
    # before as long as after (8 days, Oct 31 to Nov 8): the 70 standard calls
    assert (y.how_known, y.period_saving, y.monthly_saving) == (
        "marked",
        Decimal("0.84"),
        Decimal("3.15"),
    )
    assert (y.calls_before, y.calls_after) == (70, 80)


def test_marks_list_and_remove(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'marks.sqlite3'}") as opened:
        first = mark_applied(opened, "cap_output", "support", _day(3), model="gpt-4o-mini")
        mark_applied(opened, "prompt_cache", "faq", _day(2))
        assert [(m.kind, m.feature, m.model) for m in list_applied(opened)] == [
            ("prompt_cache", "faq", None), ("cap_output", "support", "gpt-4o-mini"),
        ]  # fmt: skip
        assert remove_applied(opened, first.id) and not remove_applied(opened, first.id)
        with pytest.raises(AppliedError, match="unknown kind 'shrink'"):
            mark_applied(opened, "shrink", "support", _day(3))
        assert len(list_applied(opened)) == 1


# -- the command line ---------------------------------------------------------------------


@pytest.fixture
def ledger_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("LLMTALLY_HOME", str(tmp_path / "home"))
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    with open_store(url) as opened:
        applied_ledger().store(opened)
    yield url


def _applied_cli(*args: str) -> tuple[int, str]:
    from llmtally.cli import app

    done = CliRunner().invoke(app, ["advise", "applied", *args])
    return done.exit_code, done.output


def test_cli_marks_lists_and_removes(ledger_url: str) -> None:
    code, out = _applied_cli(
        "trim_prompt", "--feature", "support", "--at", "2026-11-09T12:00:00Z",
        "--note", "v2 prompt", "--database", ledger_url,
    )  # fmt: skip
    assert code == 0, out
    assert "marked trim_prompt on support as applied at 2026-11-09 12:00 UTC" in out
    code, out = _applied_cli("--list", "--database", ledger_url)
    assert code == 0 and "trim_prompt" in out and "v2 prompt" in out
    assert max(len(line) for line in out.splitlines()) <= 80
    with open_store(ledger_url) as opened:
        [mark] = list_applied(opened)
    code, out = _applied_cli("--remove", mark.id, "--database", ledger_url)
    assert code == 0 and mark.id in out
    code, out = _applied_cli("--remove", mark.id, "--database", ledger_url)
    assert code == 1 and "no change is marked with id" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["shrink", "--feature", "support"], "unknown kind 'shrink'; one of: batch, prompt_cache"),
        (["trim_prompt"], "--feature is needed"),
        (["trim_prompt", "--feature", "support", "--at", "last tuesday"], "--at"),
        (["trim_prompt", "--feature", "support", "--at", "2099-01-01"], "in the future"),
        ([], "a KIND is needed"),
    ],
)
def test_cli_bad_input_is_a_clear_error(ledger_url: str, args: list[str], message: str) -> None:
    code, out = _applied_cli(*args, "--database", ledger_url)
    assert code == 1, out
    assert "error:" in out and message in " ".join(out.split()) and "Traceback" not in out
    with open_store(ledger_url) as opened:
        assert list_applied(opened) == []  # nothing stored


def test_print_realised_reads_at_80_columns(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'p.sqlite3'}") as opened:
        found = realised_savings(_filled(opened), CATALOG, SINCE, UNTIL)
    console = Console(width=80, record=True, highlight=False)
    print_realised(console, found)
    out = console.export_text()
    assert max(len(line) for line in out.splitlines()) <= 80
    for text in ("$14.81", "$3.15", "$0.22", "$0.035", "$0.0021", "detected", "marked"):
        assert text in out, text
    assert "openai/gpt-4o-mini" in out and "re-priced" in out


def test_json_has_the_realised_exact_strings(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'j.sqlite3'}") as opened:
        applied_ledger().store(opened)
        advice = with_realised(opened, CATALOG, Advice(SINCE, UNTIL, Decimal(1)))
    data = json.loads(json.dumps(advice_json(advice)))
    first = data["realised"][0]
    assert {k: first[k] for k in ("kind", "how_known", "applied_at")} == {
        "kind": "right_size", "how_known": "detected", "applied_at": "2026-11-06T00:00:00+00:00",
    }  # fmt: skip
    # $4.935 in the 10 days after, $14.805 a month (see test_each_change_...)
    assert (first["period_saving"], first["monthly_saving"]) == ("4.935", "14.805")
    assert (first["cost_per_call_before"], first["cost_per_call_after"]) == ("0.035", "0.0021")
    assert (first["calls_before"], first["calls_after"], first["note"]) == (150, 150, None)


def _advise_cli(url: str, *extra: str) -> str:
    from llmtally.cli import app

    args = ["advise", "--since", SINCE.isoformat(), "--until", UNTIL.isoformat()]
    done = CliRunner().invoke(app, [*args, "--database", url, *extra])
    assert done.exit_code == 0, done.output
    return done.output


def test_advise_json_has_the_realised_exact_strings(ledger_url: str) -> None:
    at = ("--at", "2026-11-09T12:00:00Z")
    code, out = _applied_cli("trim_prompt", "--feature", "support", *at, "--database", ledger_url)
    assert code == 0, out
    data = json.loads(_advise_cli(ledger_url, "--json"))
    shown = {r["where"]["feature"]: r for r in data["realised"]}
    # summarise $4.935 / $14.805, nightly $0.84 / $3.15, support $0.0468 / $0.216 (see above)
    assert {f: (r["period_saving"], r["monthly_saving"]) for f, r in shown.items()} == {
        "summarise": ("4.935", "14.805"),
        "nightly": ("0.84", "3.15"),
        "support": ("0.0468", "0.216"),
    }
    assert shown["support"]["how_known"] == "marked"
    assert shown["support"]["applied_at"] == "2026-11-09T12:00:00+00:00"
    assert shown["support"]["cost_per_call_before"] == "0.0036"


def test_advise_prints_the_realised_savings_at_80_columns(ledger_url: str) -> None:
    out = _advise_cli(ledger_url)
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "realised savings" in out and "$14.81" in out and "$3.15" in out


# -- exact re-pricing across time-of-day windows and long-context cliffs -------------------

LONG = Usage(input_tokens=200_000, output_tokens=1_000)
SHORT = Usage(input_tokens=100_000, output_tokens=1_000)
DIGEST = Usage(input_tokens=100_000, output_tokens=10_000)


def test_a_window_and_a_cliff_are_priced_call_by_call(store: Store) -> None:  # noqa: F811
    """digest: deepseek-chat in August 2025 (0.27 in / 1.10 out, half price from 16:30 to
    00:30 UTC) -> gpt-4o-mini (0.15 / 0.60) from Aug 6. Each day 4 calls of 100,000 in /
    10,000 out at 00:29:00 (off-peak), 00:30:00 (peak: the window ends), 16:29:59 (peak)
    and 16:30:00 (off-peak). deepseek-chat peak 0.027 + 0.011 = $0.038, off-peak $0.019;
    gpt-4o-mini 0.015 + 0.006 = $0.021.

    longdoc: gemini-1.5-pro (1.25 / 5.00; prompts over 128,000 tokens 2.50 / 10.00) ->
    gemini-1.5-flash (0.075 / 0.30; over 128,000: 0.15 / 0.60) from Nov 6 2026. Each day
    one call of 200,000 in / 1,000 out and one of 100,000 in / 1,000 out.
    """
    b = LedgerBuilder(CATALOG)
    august = dt.datetime(2025, 8, 1, tzinfo=dt.UTC)
    for day in range(10):
        model, provider = ("deepseek-chat", "deepseek") if day < 5 else ("gpt-4o-mini", "openai")
        for at in ("00:29:00", "00:30:00", "16:29:59", "16:30:00"):
            moment = august + dt.timedelta(days=day) + _clock(at)
            b.add("digest", model, moment, DIGEST, provider=provider)
    for day in range(1, 16):
        model = "gemini-1.5-pro" if day <= 5 else "gemini-1.5-flash"
        for hour, usage in ((9, LONG), (15, SHORT)):
            at = _day(day) + dt.timedelta(hours=hour)
            b.add("longdoc", model, at, usage, provider="google")
    b.store(store)

    [digest] = realised_savings(store, CATALOG, august, august + dt.timedelta(days=10))
    # a day after: deepseek-chat would have cost 2 x $0.038 + 2 x $0.019 = $0.114, gpt-4o-mini
    # cost 4 x $0.021 = $0.084: $0.03 a day, x 5 days = $0.15 (a month: x 30/5 = $0.90)
    assert (digest.period_saving, digest.monthly_saving) == (Decimal("0.15"), Decimal("0.9"))
    # before, per call: (2 x $0.038 + 2 x $0.019) / 4 = $0.0285
    assert (digest.calls_before, digest.cost_per_call_before) == (20, Decimal("0.0285"))

    [longdoc] = realised_savings(store, CATALOG, SINCE, UNTIL)
    # a day after, at gemini-1.5-pro: 0.2 x 2.50 + 0.001 x 10.00 = $0.51 (over the cliff) and
    # 0.1 x 1.25 + 0.001 x 5.00 = $0.13 (under it); gemini-1.5-flash cost 0.2 x 0.15 +
    # 0.001 x 0.60 = $0.0306 and 0.1 x 0.075 + 0.001 x 0.30 = $0.0078: $0.64 - $0.0384
    # = $0.6016 a day, x 10 days = $6.016; a month x 3 = $18.048
    assert (longdoc.period_saving, longdoc.monthly_saving) == (
        Decimal("6.016"), Decimal("18.048"),
    )  # fmt: skip
    assert longdoc.cost_per_call_before == Decimal("0.32")  # ($0.51 + $0.13) / 2


def _clock(text: str) -> dt.timedelta:
    hours, minutes, seconds = (int(part) for part in text.split(":"))
    return dt.timedelta(hours=hours, minutes=minutes, seconds=seconds)


# -- marked kinds, each measured its own way ----------------------------------------------


def test_marked_right_size_is_re_priced_at_the_model_used_before(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'rs.sqlite3'}") as opened:
        applied_ledger().store(opened)
        mark_applied(opened, "right_size", "summarise", _day(6))
        found = _by_feature(realised_savings(opened, CATALOG, SINCE, UNTIL))
    x = found["summarise"]
    # the model most calls used before (Oct 27 to Nov 6): gpt-4o; the 150 gpt-4o-mini calls
    # after re-priced at it: 150 x $0.0329 = $4.935; 10 days after: x 3 = $14.805. Before:
    # 150 calls at $0.035; after: 152 calls (the 2 stragglers at $0.035 too):
    # (150 x $0.0021 + 2 x $0.035) / 152 = ($0.315 + $0.07) / 152 = $0.385 / 152
    assert (x.how_known, x.period_saving, x.monthly_saving) == (
        "marked", Decimal("4.935"), Decimal("14.805"),
    )  # fmt: skip
    assert (x.calls_before, x.calls_after) == (150, 152)
    assert x.cost_per_call_after == Decimal("0.385") / 152
    assert "gpt-4o" in x.method and "re-priced" in x.method


def test_marked_duplicates_compare_spend_per_day(tmp_path: Path) -> None:
    b = LedgerBuilder(CATALOG)
    for day in range(1, 16):
        for k in range(10 if day <= 10 else 5):  # a response cache from Nov 11 halves the calls
            b.add("reports", "gpt-4o-mini", _day(day) + dt.timedelta(hours=k), Y_CALL)
    with open_store(f"sqlite:///{tmp_path / 'dup.sqlite3'}") as opened:
        b.store(opened)
        mark_applied(opened, "duplicates", "reports", _day(11))
        [dup] = realised_savings(opened, CATALOG, SINCE, UNTIL)
    # after: Nov 11 to 16 (5 days), 25 calls x $0.021 = $0.525; before, as long: Nov 6 to 11,
    # 50 calls x $0.021 = $1.05; saved $1.05 - $0.525 = $0.525, a month x 30/5 = $3.15
    assert (dup.period_saving, dup.monthly_saving) == (Decimal("0.525"), Decimal("3.15"))
    assert (dup.calls_before, dup.calls_after) == (50, 25)
    assert dup.cost_per_call_before == dup.cost_per_call_after == Decimal("0.021")


def test_marked_prompt_cache_sums_what_the_ledger_says_caching_saved(tmp_path: Path) -> None:
    """claude-sonnet-4: 3.00 in, cache reads 0.30, 15.00 out. From Nov 11, each call of
    10,000 in reads 8,000 from the cache: the ledger's saved_cache is 8,000 x (3.00 - 0.30)
    / 1M = $0.0216 a call (set here as the gateway records it)."""
    plain = Usage(input_tokens=10_000, output_tokens=500)
    cached = Usage(input_tokens=10_000, cache_read_tokens=8_000, output_tokens=500)
    b = LedgerBuilder(CATALOG)
    for day in range(1, 16):
        for k in range(4):
            usage = plain if day <= 10 else cached
            b.add("support", "claude-sonnet-4", _day(day) + dt.timedelta(hours=k), usage,
                  provider="anthropic")  # fmt: skip
    b.calls = [
        replace(c, saved_cache=Decimal("0.0216")) if c.usage.cache_read_tokens else c
        for c in b.calls
    ]
    with open_store(f"sqlite:///{tmp_path / 'pc.sqlite3'}") as opened:
        b.store(opened)
        mark_applied(opened, "prompt_cache", "support", _day(11))
        [cache] = realised_savings(opened, CATALOG, SINCE, UNTIL)
    # 5 days x 4 calls = 20 calls x $0.0216 = $0.432; a month x 30/5 = $2.592
    assert (cache.period_saving, cache.monthly_saving) == (Decimal("0.432"), Decimal("2.592"))
    # per call before: 0.01 x 3.00 + 0.0005 x 15.00 = $0.0375; after: 0.002 x 3.00 +
    # 0.008 x 0.30 + 0.0005 x 15.00 = 0.006 + 0.0024 + 0.0075 = $0.0159
    assert (cache.cost_per_call_before, cache.cost_per_call_after) == (
        Decimal("0.0375"), Decimal("0.0159"),
    )  # fmt: skip
    assert "saved_cache" in cache.method


def test_a_mark_with_no_calls_after_yet(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'new.sqlite3'}") as opened:
        applied_ledger().store(opened)
        mark_applied(opened, "cap_output", "support", UNTIL - dt.timedelta(minutes=1))
        found = _by_feature(realised_savings(opened, CATALOG, SINCE, UNTIL))
    z = found["support"]
    assert (z.calls_after, z.period_saving, z.note) == (0, 0, "no calls since it was applied yet")
