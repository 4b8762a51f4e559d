"""``llmtally reconcile fetch`` against local fakes of the providers' admin APIs
(tests/admin_fakes.py, which cites the references): pagination, the query each
page is asked with, rate limits, retries, a refused key, resuming a cut run.

The pages are stored through a stand-in with the signature of
``llmtally.reconcile.load.import_page`` / ``last_bucket_end`` that remembers each
bucket it was given (so "stored twice" is visible), and the window is fixed by
``now`` = 2026-12-06 15:30 UTC. Its day starts at 2026-12-06 00:00 UTC:
2026-01-01 is day 56*365 + 14 leap days = 20,454 since 1970-01-01; Dec 6 is day
334 + 6 = 340 of the year, so 20,454 + 339 = 20,793 days = 1,796,515,200 s.
Thirty days before: 20,763 days = 1,793,923,200 s (2026-11-06).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from admin_fakes import FakeAdminAPI, FakeAnthropic, FakeOpenAI, StandInLedger, Step
from llmtally.reconcile.admin_http import AdminAPIError, AuthError, FetchError, Limits
from llmtally.reconcile.fetch import fetch_reports

NOW = dt.datetime(2026, 12, 6, 15, 30, tzinfo=dt.UTC)
END = 1_796_515_200  # 2026-12-06 00:00 UTC (see the module docstring)
START = 1_793_923_200  # 30 days before: 2026-11-06 00:00 UTC
FIRST_DAY = dt.datetime(2026, 11, 6, tzinfo=dt.UTC)
FAST = Limits(backoff_base=0.001, backoff_cap=60.0, deadline=600.0, retries=3, timeout=5.0)


@pytest.fixture
def openai_fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(FIRST_DAY, days=30, page_size=12) as fake:
        yield fake


@pytest.fixture
def anthropic_fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(FIRST_DAY, days=30, page_size=12) as fake:
        yield fake


def _env(fake: FakeAdminAPI, key: str | None = None) -> dict[str, str]:
    if fake.provider == "openai":
        return {"OPENAI_ADMIN_KEY": key or fake.key, "LLMTALLY_OPENAI_ADMIN_BASE_URL": fake.url}
    return {
        "ANTHROPIC_ADMIN_KEY": key or fake.key,
        "LLMTALLY_ANTHROPIC_ADMIN_BASE_URL": fake.url,
    }


def _run(
    fake: FakeAdminAPI,
    ledger: StandInLedger,
    kinds: list[str] | None,
    waits: list[float] | None = None,
    **options: Any,
) -> Any:
    return fetch_reports(
        "the-store",
        fake.provider,
        now=NOW,
        env=_env(fake, options.pop("key", None)),
        limits=options.pop("limits", FAST),
        kinds=kinds,
        ledger=ledger,
        sleep=(waits.append if waits is not None else lambda _s: None),
        **options,
    )


def _cursor(offset: int) -> str:
    """The fake's cursor for the bucket at ``offset`` of the window."""
    import base64

    return "page_" + base64.b64encode(str(offset).encode()).decode()


# -- pagination and the query ----------------------------------------------------


def test_openai_three_pages_with_the_documented_query(openai_fake: FakeOpenAI) -> None:
    ledger = StandInLedger()
    summary = _run(openai_fake, ledger, ["usage:completions"])
    # 30 days at most 12 a page: 12 + 12 + 6
    assert summary.total("pages") == 3
    assert summary.total("buckets") == 30
    assert summary.total("stored") == 30 and summary.total("already") == 0
    assert summary.reports[0].first == FIRST_DAY
    assert summary.reports[0].last == dt.datetime(2026, 12, 6, tzinfo=dt.UTC)
    assert [seen.path for seen in openai_fake.seen] == ["/v1/organization/usage/completions"] * 3
    first, second, third = openai_fake.seen
    for seen in (first, second, third):
        assert seen.one("start_time") == str(START)
        assert seen.one("end_time") == str(END)
        assert seen.one("bucket_width") == "1d"
        assert seen.all("group_by") == ["model", "project_id", "api_key_id", "batch"]
        assert seen.one("limit") == "31"
        assert seen.headers["authorization"] == f"Bearer {openai_fake.key}"
    assert first.one("page") is None
    assert second.one("page") == _cursor(12)
    assert third.one("page") == _cursor(24)
    assert ledger.pages[0][2] == f"{openai_fake.url}/v1/organization/usage/completions"


def test_openai_every_report_and_its_group_by(openai_fake: FakeOpenAI) -> None:
    openai_fake.page_size = 31
    summary = _run(openai_fake, StandInLedger(), None)
    paths = [seen.path.removeprefix("/v1/organization/") for seen in openai_fake.seen]
    assert paths == [
        "usage/completions",
        "usage/embeddings",
        "usage/images",
        "usage/audio_speeches",
        "usage/audio_transcriptions",
        "costs",
    ]
    groups = [seen.all("group_by") for seen in openai_fake.seen]
    usage = ["model", "project_id", "api_key_id"]
    assert groups == [[*usage, "batch"], usage, usage, usage, usage, ["project_id", "line_item"]]
    assert summary.total("pages") == 6 and summary.total("buckets") == 6 * 30


def test_anthropic_pages_query_and_headers(anthropic_fake: FakeAnthropic) -> None:
    ledger = StandInLedger()
    summary = _run(anthropic_fake, ledger, None)
    # two reports of 30 days, 12 a page: 3 pages each
    assert summary.total("pages") == 6 and summary.total("buckets") == 60
    paths = [seen.path for seen in anthropic_fake.seen]
    assert (
        paths
        == ["/v1/organizations/usage_report/messages"] * 3 + ["/v1/organizations/cost_report"] * 3
    )
    for seen in anthropic_fake.seen:
        assert seen.one("starting_at") == "2026-11-06T00:00:00Z"
        assert seen.one("ending_at") == "2026-12-06T00:00:00Z"
        assert seen.one("bucket_width") == "1d"
        assert seen.one("limit") == "31"
        assert seen.headers["x-api-key"] == anthropic_fake.key
        assert seen.headers["anthropic-version"] == "2023-06-01"
        assert "authorization" not in seen.headers
    messages = anthropic_fake.seen[0].all("group_by[]")
    assert messages == ["model", "api_key_id", "workspace_id", "service_tier", "context_window"]
    assert anthropic_fake.seen[3].all("group_by[]") == ["workspace_id", "description"]
    assert [seen.one("page") for seen in anthropic_fake.seen[:3]] == [
        None,
        _cursor(12),
        _cursor(24),
    ]


def test_a_second_run_starts_where_the_first_ended(openai_fake: FakeOpenAI) -> None:
    ledger = StandInLedger()
    _run(openai_fake, ledger, ["usage:completions"])
    openai_fake.seen.clear()
    summary = _run(openai_fake, ledger, ["usage:completions"])
    assert openai_fake.seen == []  # stored up to today 00:00: nothing to ask
    assert summary.total("pages") == 0 and summary.reports[0].complete


def test_since_sets_the_first_window(openai_fake: FakeOpenAI) -> None:
    since = dt.datetime(2026, 12, 1, 9, 45, tzinfo=dt.UTC)  # from that day's 00:00
    summary = _run(openai_fake, StandInLedger(), ["costs"], since=since)
    # 2026-12-01 is 5 days before 2026-12-06: END - 5 * 86,400 = 1,796,083,200
    assert openai_fake.seen[0].one("start_time") == "1796083200"
    assert summary.total("buckets") == 5


# -- rate limits and retries -----------------------------------------------------


def test_429_retry_after_is_honoured(anthropic_fake: FakeAnthropic) -> None:
    anthropic_fake.plan = [Step("429", "/messages", headers={"retry-after": "2"})]
    waits: list[float] = []
    ledger = StandInLedger()
    summary = _run(anthropic_fake, ledger, ["usage:messages"], waits)
    assert waits == [2.0]
    assert summary.total("buckets") == 30 and len(ledger.buckets) == 30
    assert summary.requests == 4  # the refused one, then 3 pages
    # the retried request is the same request
    assert anthropic_fake.seen[0].query == anthropic_fake.seen[1].query


def test_429_retry_after_ms_wins_over_seconds(openai_fake: FakeOpenAI) -> None:
    headers = {"retry-after-ms": "1500", "retry-after": "2"}
    openai_fake.plan = [Step("429", "/completions", headers=headers, times=2)]
    waits: list[float] = []
    _run(openai_fake, StandInLedger(), ["usage:completions"], waits)
    assert waits == [1.5, 1.5]


def test_429_without_header_backs_off_exponentially_with_a_cap(openai_fake: FakeOpenAI) -> None:
    openai_fake.plan = [Step("429", "/completions", times=4)]
    waits: list[float] = []
    limits = Limits(backoff_base=1.0, backoff_cap=3.0, retries=3)
    _run(openai_fake, StandInLedger(), ["usage:completions"], waits, limits=limits)
    # base 1 s doubling (1, 2, 4, 8) less up to 20% jitter: 0.8-1, 1.6-2, then
    # 3.2-4 and 6.4-8, both over the 3 s cap
    assert len(waits) == 4
    assert 0.8 <= waits[0] <= 1.0 and 1.6 <= waits[1] <= 2.0
    assert waits[2:] == [3.0, 3.0]


def test_429_past_the_deadline_stops_with_what_was_stored(openai_fake: FakeOpenAI) -> None:
    openai_fake.plan = [
        Step("429", "/completions", page=_cursor(12), headers={"retry-after": "30"})
    ]
    ledger = StandInLedger()
    limits = Limits(backoff_base=0.001, deadline=10.0)
    with pytest.raises(FetchError, match="deadline") as caught:
        _run(openai_fake, ledger, ["usage:completions"], limits=limits)
    assert caught.value.summary.total("pages") == 1
    assert len(ledger.buckets) == 12  # page 1 is stored; page 2 waits for the next run


def test_500_then_success(anthropic_fake: FakeAnthropic) -> None:
    anthropic_fake.plan = [Step("500", "/cost_report", page=_cursor(12))]
    waits: list[float] = []
    summary = _run(anthropic_fake, StandInLedger(), ["costs"], waits)
    assert len(waits) == 1 and 0.0008 <= waits[0] <= 0.001  # backoff_base 0.001, jitter
    assert summary.total("pages") == 3 and summary.total("buckets") == 30


def test_5xx_every_time_gives_up_after_the_retries(openai_fake: FakeOpenAI) -> None:
    openai_fake.plan = [Step("503", "/costs", times=10)]
    with pytest.raises(FetchError, match=r"server error 503, 4 times; run again"):
        _run(openai_fake, StandInLedger(), ["costs"])
    assert len(openai_fake.seen) == 4  # 1 + FAST.retries (3)


# -- refused keys and requests ---------------------------------------------------


def test_expired_openai_key_is_a_clear_error_and_nothing_is_stored(
    openai_fake: FakeOpenAI,
) -> None:
    ledger = StandInLedger()
    expired = "sk-admin-expired-fedcba9876543210"
    with pytest.raises(AuthError) as caught:
        _run(openai_fake, ledger, None, key=expired)
    message = str(caught.value)
    assert "OPENAI_ADMIN_KEY" in message and "Admin key" in message and "Owner" in message
    assert "Incorrect API key provided" in message
    assert expired not in message
    assert len(openai_fake.seen) == 1  # not retried
    assert ledger.pages == [] and ledger.buckets == []


def test_anthropic_403_names_the_admin_key(anthropic_fake: FakeAnthropic) -> None:
    anthropic_fake.plan = [Step("403", "/messages")]
    with pytest.raises(AuthError, match="ANTHROPIC_ADMIN_KEY") as caught:
        _run(anthropic_fake, StandInLedger(), None)
    assert "Admin API key" in str(caught.value)
    assert anthropic_fake.key not in str(caught.value)


def test_a_key_echoed_by_the_api_is_masked(openai_fake: FakeOpenAI) -> None:
    key = "sk-admin-echoed-1111"

    def echo(status: int, message: str) -> dict[str, Any]:
        return {"error": {"message": f"key {key} has no access", "type": "x", "code": None}}

    openai_fake.error = echo  # type: ignore[method-assign]
    with pytest.raises(AuthError) as caught:
        _run(openai_fake, StandInLedger(), None, key=key)
    assert key not in str(caught.value) and "key *** has no access" in str(caught.value)


def test_other_4xx_carries_the_api_message(openai_fake: FakeOpenAI) -> None:
    openai_fake.plan = [Step("400", "/completions")]
    with pytest.raises(AdminAPIError, match="400: planned failure"):
        _run(openai_fake, StandInLedger(), None)
    assert len(openai_fake.seen) == 1


def test_missing_key_names_the_variable() -> None:
    with pytest.raises(FetchError, match="set ANTHROPIC_ADMIN_KEY to an Admin API key"):
        fetch_reports("store", "anthropic", env={}, ledger=StandInLedger())


def test_plain_http_to_another_host_is_refused() -> None:
    env = {"OPENAI_ADMIN_KEY": "k", "LLMTALLY_OPENAI_ADMIN_BASE_URL": "http://example.com"}
    with pytest.raises(FetchError, match="use https://"):
        fetch_reports("store", "openai", env=env, ledger=StandInLedger())


# -- interruption and resume -----------------------------------------------------


def test_cut_on_page_2_then_resume_stores_each_bucket_once(openai_fake: FakeOpenAI) -> None:
    # page 2 is cut mid-body on every attempt of the first run (1 + 3 retries)
    openai_fake.plan = [Step("drop", "/completions", page=_cursor(12), times=4)]
    ledger = StandInLedger()
    with pytest.raises(
        FetchError, match="connection cut mid-page, 4 times; run again to resume"
    ) as caught:
        _run(openai_fake, ledger, ["usage:completions"])
    assert caught.value.summary.total("pages") == 1
    assert len(ledger.buckets) == 12
    openai_fake.seen.clear()

    summary = _run(openai_fake, ledger, ["usage:completions"])
    # resumes at page 1's last bucket end: 2026-11-18 = START + 12 * 86,400 = 1,794,960,000
    first = openai_fake.seen[0]
    assert first.one("start_time") == "1794960000" and first.one("page") is None
    # the other 18 days, 12 + 6 a page; nothing asked twice, nothing stored twice
    assert summary.total("pages") == 2 and summary.total("buckets") == 18
    assert summary.total("already") == 0
    assert len(ledger.buckets) == 30 and len(set(ledger.buckets)) == 30


def test_an_unreachable_api_is_retried_then_a_clear_error() -> None:
    with FakeOpenAI(FIRST_DAY, days=1) as fake:
        env = _env(fake)  # the port of a server that is gone by the fetch
    waits: list[float] = []
    with pytest.raises(FetchError, match=r"connection failed .*4 times; run again") as caught:
        fetch_reports(
            "store", "openai", env=env, limits=FAST, ledger=StandInLedger(), sleep=waits.append
        )
    assert len(waits) == 3 and caught.value.summary.total("pages") == 0


def test_max_pages_stops_and_the_next_run_goes_on(anthropic_fake: FakeAnthropic) -> None:
    ledger = StandInLedger()
    summary = _run(anthropic_fake, ledger, None, max_pages=2)
    assert summary.total("pages") == 2 and summary.stopped is not None
    assert [r.kind for r in summary.reports] == ["usage:messages"]
    summary = _run(anthropic_fake, ledger, None)
    # messages: the last 6 days (1 page); costs: 30 days (3 pages)
    assert [(r.kind, r.pages) for r in summary.reports] == [("usage:messages", 1), ("costs", 3)]
    assert len(ledger.buckets) == 60 and len(set(ledger.buckets)) == 60


# -- bounds ----------------------------------------------------------------------


def test_a_page_larger_than_the_limit_is_refused(openai_fake: FakeOpenAI) -> None:
    limits = Limits(backoff_base=0.001, max_body=1000)
    ledger = StandInLedger()
    with pytest.raises(FetchError, match="larger than 1,000 bytes"):
        _run(openai_fake, ledger, ["usage:completions"], limits=limits)
    assert ledger.pages == []


def test_a_page_nesting_too_deep_is_refused(openai_fake: FakeOpenAI) -> None:
    # page > data > bucket > results > result: 5 levels
    limits = Limits(backoff_base=0.001, max_depth=4)
    with pytest.raises(FetchError, match="nests deeper than 4"):
        _run(openai_fake, StandInLedger(), ["usage:completions"], limits=limits)


def test_has_more_without_a_cursor_is_an_error(openai_fake: FakeOpenAI) -> None:
    openai_fake.page = lambda data, cursor: {"data": data, "has_more": True}  # type: ignore[method-assign]
    ledger = StandInLedger()
    with pytest.raises(FetchError, match="has_more without a next_page"):
        _run(openai_fake, ledger, ["usage:completions"])


def test_a_page_the_ledger_refuses_stops_the_run(openai_fake: FakeOpenAI) -> None:
    class Refusing(StandInLedger):
        def import_page(self, *args: Any, **kwargs: Any) -> Any:
            if self.pages:  # the second page
                raise ValueError("page, bucket 1, result 1: field 'output_tokens': -1")
            return super().import_page(*args, **kwargs)

    ledger = Refusing()
    with pytest.raises(FetchError, match=r"page 2 of usage:completions was not stored \(page,"):
        _run(openai_fake, ledger, ["usage:completions"])
    assert len(ledger.buckets) == 12


def test_a_long_retry_after_is_waited_in_full(anthropic_fake: FakeAnthropic) -> None:
    # 90 s is over the 60 s backoff cap, but the server's word is kept (deadline 600 s)
    anthropic_fake.plan = [Step("429", "/messages", headers={"retry-after": "90"})]
    waits: list[float] = []
    _run(anthropic_fake, StandInLedger(), ["usage:messages"], waits)
    assert waits == [90.0]


def test_a_redirect_is_not_followed_with_the_key(openai_fake: FakeOpenAI) -> None:
    elsewhere = {"Location": "http://127.0.0.1:9/v1/organization/costs"}
    openai_fake.plan = [Step("302", "/costs", headers=elsewhere)]
    with pytest.raises(AdminAPIError, match="redirected; not followed"):
        _run(openai_fake, StandInLedger(), ["costs"])
    assert len(openai_fake.seen) == 1
