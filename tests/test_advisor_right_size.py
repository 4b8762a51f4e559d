"""The right-size recommender on a synthetic ledger (``advisor_synthetic``) with
``advise verify`` results planted in the lab's own tables (a run named
``verify:<feature>``, one lab cell per replay with the user's check and the
``agreement`` check, as the verify command stores them), on SQLite and PostgreSQL.

Prices (built-in catalog), USD per 1M tokens, input / output:
openai gpt-4o 2.50 / 10.00, gpt-4o-mini 0.15 / 0.60, gpt-4.1 2.00 / 8.00,
gpt-4.1-mini 0.40 / 1.60, gpt-4.1-nano 0.10 / 0.40; gpt-4o-mini batch 0.075 / 0.30;
anthropic claude-sonnet-4 3.00 / 15.00, claude-haiku-4-5 1.00 / 5.00,
claude-3-5-haiku 0.80 / 4.00.
Every call is SMALL (10,000 input, 1,000 output tokens) and streamed (so batch
leaves it alone), except ``nightly``'s. The period is 15 days: a month is x2.

- summarise, gpt-4o, 100 calls; gpt-4o-mini verified, 20 replays, 20 pass, 18 agree:
  recommended.
- classify, gpt-4.1, 100 calls; gpt-4.1-mini and gpt-4.1-nano both pass, 30 replays:
  the cheaper (nano) recommended, mini considered.
- draft, gpt-4o, 50 calls; gpt-4o-mini verified, 12 of 20 pass the check: the trap.
- sparse, gpt-4o, 10 calls; gpt-4o-mini verified on 5 replays only: too few.
- notes, gpt-4o, 100 calls; gpt-4o-mini verified without checks, 30 of 30 agree.
- chat, claude-sonnet-4, 100 calls; never verified: considered with the command.
- nightly, gpt-4o, 100 calls not streamed; gpt-4o-mini passes: right-size, then
  batch priced on gpt-4o-mini.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from advisor_synthetic import SINCE, SMALL, LedgerBuilder, advice_of
from llmtally.advisor import Advice
from llmtally.advisor.batch import batch_recommender
from llmtally.advisor.duplicates import duplicates_recommender
from llmtally.advisor.right_size import LADDER, right_size_recommender
from llmtally.advisor.verify import latest_verification, run_name
from llmtally.catalog import Catalog
from llmtally.lab.checks import CheckResult
from llmtally.lab.store import CellRecord, LabStore
from llmtally.ledger import Store, open_store
from test_ledger_support import db_url, pg_base_url  # noqa: F401

CHECK = "contains: help"
# model -> (answered replays, replays passing the check or None: no checks, agreeing)
Replays = dict[str, tuple[int, int | None, int]]


def plant_verification(store: Store, feature: str, replays: Replays, provider: str) -> str:
    """A finished ``advise verify`` run of ``feature`` in the lab tables."""
    lab = LabStore(store)
    checked = any(passed is not None for _, passed, _ in replays.values())
    rows = max(n for n, _, _ in replays.values())
    plan = {
        "prompts": [{"id": "recorded", "system": "{system}", "user": "{user}"}],
        "models": [{"name": m, "model": m, "provider": provider} for m in replays],
        "checks": [CHECK, "agreement"] if checked else ["agreement"],
        "rows": rows,
    }
    run = lab.create_run(run_name(feature), "experiment.yaml", f"fp-{feature}", plan,
                         rows * len(replays), None, "http://127.0.0.1:1")  # fmt: skip
    for model, (answered, passed, agreed) in replays.items():
        for i in range(answered):
            checks = [CheckResult("agreement", i < agreed)]
            if passed is not None:
                checks.insert(0, CheckResult(CHECK, i < passed))
            lab.save_cell(_cell(run.id, model, i, tuple(checks)))
    lab.set_status(run.id, "complete")
    return run.id


def _cell(run_id: str, model: str, i: int, checks: tuple[CheckResult, ...]) -> CellRecord:
    return CellRecord(
        run_id=run_id, cell_key=f"{i}-{model}", prompt_id="recorded", row_index=i,
        model=model, repetition=0, row={"agreement_min": "0.6"}, status="ok",
        output="How can I help?", call_id=None, attempts=1, error=None, checks=checks,
        passed=all(c.passed for c in checks), client_latency_ms=None, client_ttft_ms=None,
        finished_at=dt.datetime.now(dt.UTC),
    )  # fmt: skip


def _calls(b: LedgerBuilder, feature: str, model: str, n: int, **options: object) -> None:
    for i in range(n):
        b.add(feature, model, SINCE + dt.timedelta(hours=3 * i), SMALL, **options)  # type: ignore[arg-type]


def build(catalog: Catalog) -> LedgerBuilder:
    b = LedgerBuilder(catalog)
    _calls(b, "summarise", "gpt-4o", 100, streamed=True)
    _calls(b, "classify", "gpt-4.1", 100, streamed=True)
    _calls(b, "draft", "gpt-4o", 50, streamed=True)
    _calls(b, "sparse", "gpt-4o", 10, streamed=True)
    _calls(b, "notes", "gpt-4o", 100, streamed=True)
    _calls(b, "chat", "claude-sonnet-4", 100, streamed=True, provider="anthropic")
    _calls(b, "nightly", "gpt-4o", 100)
    return b


RUNS: dict[str, Replays] = {
    "summarise": {"gpt-4o-mini": (20, 20, 18)},
    "classify": {"gpt-4.1-mini": (30, 30, 30), "gpt-4.1-nano": (30, 29, 27)},
    "draft": {"gpt-4o-mini": (20, 12, 18)},
    "sparse": {"gpt-4o-mini": (5, 5, 5)},
    "notes": {"gpt-4o-mini": (30, None, 30)},
    "nightly": {"gpt-4o-mini": (20, 20, 20)},
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


@pytest.fixture
def database(db_url: str, catalog: Catalog) -> tuple[str, dict[str, str]]:  # noqa: F811
    """The ledger and its planted verifications (feature -> run id)."""
    with open_store(db_url) as store:
        build(catalog).store(store)
        runs = {f: plant_verification(store, f, r, "openai") for f, r in RUNS.items()}
    return db_url, runs


def _only_right_size(database: str, catalog: Catalog) -> Advice:
    return advice_of(database, catalog, recommenders=[right_size_recommender])


def _by_feature(advice: Advice) -> dict[str, tuple[str, Decimal]]:
    return {
        r.where["feature"]: (r.evidence["to"], r.monthly_saving)
        for r in advice.recommendations
        if r.kind == "right_size"
    }


def test_the_planted_runs_read_back_as_verifications(
    database: tuple[str, dict[str, str]],
) -> None:
    url, runs = database
    with open_store(url) as store:
        found = latest_verification(store, "draft")
    assert found is not None and found.run_id == runs["draft"]
    mini = found.candidate("gpt-4o-mini")
    assert mini is not None and (mini.replays, mini.checks_passed, mini.agreed) == (20, 12, 18)
    assert mini.check_pass_rate == 0.6 and mini.agreement_rate == 0.9


def test_verified_candidates_recommended_with_hand_computed_savings(
    database: tuple[str, dict[str, str]], catalog: Catalog
) -> None:
    advice = _only_right_size(database[0], catalog)
    assert _by_feature(advice) == {
        # 100 x (10,000 x (2.50 - 0.15)/M + 1,000 x (10.00 - 0.60)/M)
        # = 100 x (0.0235 + 0.0094) = $3.29; x2
        "summarise": ("openai/gpt-4o-mini", Decimal("6.58")),
        # nano: 100 x (10,000 x (2.00 - 0.10)/M + 1,000 x (8.00 - 0.40)/M)
        # = 100 x (0.019 + 0.0076) = $2.66; x2 (mini would save only $4.48)
        "classify": ("openai/gpt-4.1-nano", Decimal("5.32")),
        # as summarise: 100 calls of gpt-4o moved to gpt-4o-mini
        "notes": ("openai/gpt-4o-mini", Decimal("6.58")),
        "nightly": ("openai/gpt-4o-mini", Decimal("6.58")),
    }
    # 6.58 + 5.32 + 6.58 + 6.58
    assert advice.monthly_saving == Decimal("25.06")


def test_evidence_confidence_and_how_to_apply(
    database: tuple[str, dict[str, str]], catalog: Catalog
) -> None:
    url, runs = database
    advice = _only_right_size(url, catalog)
    recs = {r.where["feature"]: r for r in advice.recommendations}
    summarise = recs["summarise"]
    assert summarise.where == {"feature": "summarise", "provider": "openai", "model": "gpt-4o"}
    assert summarise.title == "Move to gpt-4o-mini" and summarise.calls == 100
    # 20 of 20 pass the check (1.00), 18 of 20 agree (0.90)
    assert {k: summarise.evidence[k] for k in ("run_id", "replays", "check_pass_rate")} == {
        "run_id": runs["summarise"], "replays": "20", "check_pass_rate": "1.00",
    }  # fmt: skip
    assert summarise.evidence["agreement_rate"] == "0.90"
    assert summarise.confidence.level == "medium"  # 20 replays: fewer than 30
    assert summarise.confidence.why == (
        "20 replays in the lab: check pass rate 1.00, agreement 0.90 (fewer than 30 replays)"
    )
    assert 'client.chat.completions.create(model="gpt-4o-mini"' in summarise.how_to_apply
    assert f"llmtally lab show {runs['summarise']}" in summarise.how_to_apply
    assert any("tokenizer may count differently" in a for a in summarise.assumptions)
    # 30 replays with checks: high; 30 replays and no checks: one level lower
    assert recs["classify"].confidence.level == "high"
    assert recs["notes"].confidence.level == "medium"
    assert "no checks of your own" in recs["notes"].confidence.why
    assert recs["notes"].evidence["check_pass_rate"] == "none (no checks given)"


def test_the_traps_are_considered_with_why(
    database: tuple[str, dict[str, str]], catalog: Catalog
) -> None:
    url, runs = database
    advice = _only_right_size(url, catalog)
    assert not {"draft", "sparse", "chat"} & set(_by_feature(advice))
    considered = [c for c in advice.considered if c.kind == "right_size"]
    by = {c.where["feature"]: c for c in considered}
    # draft: 50 x $0.0329 = $1.645; x2 = $3.29; 12 of 20 pass: 0.60
    assert by["draft"].reason == (
        "gpt-4o-mini would save $3.29/month; failed the lab: pass rate 0.60 < 0.95 "
        f"(run {runs['draft']})"
    )
    assert by["draft"].monthly_saving == Decimal("3.29")
    # sparse: 10 x $0.0329 = $0.329; x2
    assert by["sparse"].reason.startswith("gpt-4o-mini would save $0.66/month; too few replays")
    assert "5 < 10" in by["sparse"].reason
    # chat: haiku-4-5: 100 x (10,000 x 2.00/M + 1,000 x 10.00/M) = $3.00, x2 = $6.00;
    # 3-5-haiku: 100 x (10,000 x 2.20/M + 1,000 x 11.00/M) = $3.30, x2 = $6.60
    assert by["chat"].reason == (
        "claude-haiku-4-5 would save $6.00/month, claude-3-5-haiku would save $6.60/month; "
        "not verified: run `llmtally advise verify chat --models claude-haiku-4-5,claude-3-5-haiku`"
    )
    assert by["chat"].monthly_saving == Decimal("6.60")
    # classify: gpt-4.1-mini passed too: 100 x (0.016 + 0.0064) = $2.24; x2
    (mini,) = [c for c in considered if c.where["feature"] == "classify"]
    assert mini.reason == (
        "gpt-4.1-mini would save $4.48/month; it passed the lab too, but gpt-4.1-nano saves more"
    )


def test_failing_the_agreement_alone_is_a_trap(tmp_path: Path, catalog: Catalog) -> None:
    url = f"sqlite:///{tmp_path}/agree.sqlite3"
    b = LedgerBuilder(catalog)
    _calls(b, "faq", "gpt-4o", 10, streamed=True)
    with open_store(url) as store:
        b.store(store)
        # every check passes, 15 of 20 agree: 0.75 < 0.80
        run = plant_verification(store, "faq", {"gpt-4o-mini": (20, 20, 15)}, "openai")
    advice = _only_right_size(url, catalog)
    assert advice.recommendations == ()
    (left,) = advice.considered
    assert left.reason.endswith(f"failed the lab: agreement 0.75 < 0.80 (run {run})")


def test_batch_is_priced_on_the_new_model(
    database: tuple[str, dict[str, str]], catalog: Catalog
) -> None:
    order = [duplicates_recommender, right_size_recommender, batch_recommender]
    advice = advice_of(database[0], catalog, recommenders=order, floor=Decimal(0))
    nightly = {
        r.kind: r.monthly_saving for r in advice.recommendations if r.where["feature"] == "nightly"
    }
    # right-size as above; then batch on gpt-4o-mini: 100 x (10,000 x 0.075/M +
    # 1,000 x 0.30/M) = 100 x 0.00105 = $0.105; x2 (on gpt-4o it would be $3.50)
    assert nightly == {"right_size": Decimal("6.58"), "batch": Decimal("0.21")}


def test_registered_in_the_advisor(database: tuple[str, dict[str, str]], catalog: Catalog) -> None:
    advice = advice_of(database[0], catalog)
    assert _by_feature(advice)["summarise"] == ("openai/gpt-4o-mini", Decimal("6.58"))


def test_every_ladder_step_is_a_cheaper_catalog_model(catalog: Catalog) -> None:
    for provider, rungs in LADDER.items():
        for model, cheaper in rungs.items():
            price = catalog.price_at(provider, model).rates
            for other in cheaper:
                assert catalog.lookup(provider, other).spec.id == other
                rates = catalog.price_at(provider, other).rates
                assert rates.input is not None and price.input is not None
                assert rates.output is not None and price.output is not None
                assert rates.input <= price.input and rates.output <= price.output, other
                assert (rates.input, rates.output) != (price.input, price.output), other


def test_another_provider_and_the_unverified_that_would_save_more(
    db_url: str,  # noqa: F811
    catalog: Catalog,
) -> None:
    b = LedgerBuilder(catalog)
    _calls(b, "support", "claude-sonnet-4", 100, streamed=True, provider="anthropic")
    _calls(b, "reply", "gpt-4.1", 100, streamed=True)
    _calls(b, "tag", "gpt-4o-mini", 100, streamed=True)
    with open_store(db_url) as store:
        b.store(store)
        plant_verification(store, "support", {"gpt-4o-mini": (20, 20, 20)}, "openai")
        plant_verification(store, "reply", {"gpt-4.1-mini": (20, 20, 20)}, "openai")
        # the dated snapshot of the model tag already uses: nothing to move
        plant_verification(store, "tag", {"gpt-4o-mini-2024-07-18": (20, 20, 20)}, "openai")
    advice = _only_right_size(db_url, catalog)
    assert _by_feature(advice) == {
        # 100 x (10,000 x (3.00 - 0.15)/M + 1,000 x (15.00 - 0.60)/M)
        # = 100 x (0.0285 + 0.0144) = $4.29; x2
        "support": ("openai/gpt-4o-mini", Decimal("8.58")),
        # 100 x (10,000 x (2.00 - 0.40)/M + 1,000 x (8.00 - 1.60)/M) = $2.24; x2
        "reply": ("openai/gpt-4.1-mini", Decimal("4.48")),
    }
    support = next(r for r in advice.recommendations if r.where["feature"] == "support")
    assert "openai's model" in support.how_to_apply
    # support: claude-haiku-4-5 ($6.00) and claude-3-5-haiku ($6.60) save less than
    # gpt-4o-mini: not worth a line. reply: gpt-4.1-nano would save $5.32 > $4.48.
    assert [(c.where["feature"], c.reason) for c in advice.considered] == [
        (
            "reply",
            "gpt-4.1-nano would save $5.32/month; not verified: run "
            "`llmtally advise verify reply --models gpt-4.1-nano`",
        )
    ]
