"""``llmtally estimate --provisioned`` with the shipped prices (issue 17): no
``--unit-price``; Azure's reservation shown per PTU-month, Bedrock's Reserved tier
with its output side (``--output-units``), Vertex GSUs, and the errors. Sources and
the arithmetic of each figure: tests/test_provisioned_prices.py and the header of
catalog/data/provisioned/offers.yaml. On-demand: OpenAI gpt-4.1 $2 / $8 per 1M
(https://openai.com/index/gpt-4-1/); Anthropic Claude Sonnet 4.5 $3 / $15
(https://www.anthropic.com/news/claude-sonnet-4-5) and Haiku 4.5 $1 / $5
(https://www.anthropic.com/news/claude-haiku-4-5). A request is 1,200 input and 150
output tokens; 720 hours a month.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtally.cli import app


def _workload(model: str, requests: int) -> str:
    return (
        f"name: provisioned prices\nprice_date: 2026-12-01\nmodels: [{model}]\n"
        f"requests: {{per_month: {requests}}}\nrequest:\n  user_input: 1200\n  output: 150\n"
    )


# --- the command, with the shipped price ----------------------------------------------------


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LLMTALLY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LLMTALLY_PRICES", raising=False)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def _file(tmp_path: Path, model: str, requests: int) -> str:
    path = tmp_path / "w.yaml"
    path.write_text(_workload(model, requests), encoding="utf-8")
    return str(path)


def test_cli_azure_yearly_reservation_without_a_price(run, tmp_path: Path) -> None:
    done = run(
        "estimate",
        _file(tmp_path, "openai/gpt-4.1", 1_000_000),
        "--json",
        "--provisioned",
        "azure-global/gpt-4.1",
        "--units",
        "15",
        "--term",
        "yearly",
    )
    assert done.exit_code == 0, done.output
    [row] = json.loads(done.stdout)["provisioned"]
    # the "azure-year" case above: 221 a PTU-month (2,652 / 12), 221 / 720 = 0.30694..
    # a PTU-hour shown; 3,315 / 720 = 4.6041666667 an hour; a request 0.0030694444
    assert {k: row[k] for k in ("usd_per_unit_month", "usd_per_unit_hour", "term")} == {
        "usd_per_unit_month": "221",
        "usd_per_unit_hour": "0.3069444444",
        "term": "yearly",
    }
    assert (row["provisioned_per_hour"], row["provisioned_per_month"]) == ("4.6041666667", "3315")
    assert row["provisioned_per_request"] == "0.0030694444"
    assert (row["break_even_requests_per_month"], row["cheaper"]) == (
        "920833.3333333333",
        "provisioned",
    )


def test_cli_bedrock_reserved_with_output_units(run, tmp_path: Path) -> None:
    done_args = [
        "estimate",
        _file(tmp_path, "anthropic/claude-sonnet-4-5", 1_000_000),
        "--json",
        "--provisioned",
        "bedrock-reserved/claude-sonnet-4-5",
        "--term",
        "3-month",
        "--units",
        "100",
        "--output-units",
        "10",
    ]
    done = run(*done_args)
    assert done.exit_code == 0, done.output
    [row] = json.loads(done.stdout)["provisioned"]
    # 100 x 0.162 + 10 x 0.81 = 16.2 + 8.1 = 24.3 an hour; x 720 = 17,496 a month;
    # a request 16.2 x 1,200 / 6,000,000 + 8.1 x 150 / 600,000 = 0.00324 + 0.002025
    # = 0.005265; on-demand 1200 x 3/1M + 150 x 15/1M = 0.00585, x 1e6 = 5,850;
    # break-even 17,496 / 0.00585 = 2,990,769.23.. = 2990769.2307692308 requests;
    # capacity min(6e6 x 720 / 1,200 = 3,600,000, 6e5 x 720 / 150 = 2,880,000)
    assert {
        k: row[k]
        for k in (
            "provisioned_per_hour",
            "provisioned_per_month",
            "provisioned_per_request",
            "on_demand_per_month",
            "break_even_requests_per_month",
            "capacity_requests_per_month",
            "break_even_reachable",
            "pays_at_full_use",
            "break_even_units",
            "cheaper",
        )
    } == {
        "provisioned_per_hour": "24.3",
        "provisioned_per_month": "17496",
        "provisioned_per_request": "0.005265",
        "on_demand_per_month": "5850",
        "break_even_requests_per_month": "2990769.2307692308",
        "capacity_requests_per_month": "2880000",
        # 2,990,769.23.. > 2,880,000: not reached with the units held, though a request
        # with both sides full (0.005265) costs less than on demand (0.00585). The input
        # side carries 3,600,000; output units for that: 3.6e6 x 150 / (1000 x 60 x 720
        # = 43,200,000) = 12.5 -> 13 (steps of 1). Then (16.2 + 13 x 0.81 = 26.73) x 720
        # = 19,245.6 a month, break-even 19,245.6 / 0.00585 = 3,289,846.15.., within
        # min(3,600,000, 13 x 60,000 x 720 / 150 = 3,744,000) = 3,600,000
        "break_even_reachable": False,
        "pays_at_full_use": True,
        "break_even_units": {"units": 100, "output_units": 13},
        "cheaper": "on-demand",
    }
    table = run(*[a for a in done_args if a != "--json"])
    text = " ".join(table.stdout.split())
    assert "not reached (capacity 2,880,000)" in text  # the title names both sides held
    assert (
        "$0.00527 a request with both sides fully used is below $0.00585 on demand, but "
        "the sides held are out of proportion: 100 1K input TPM with 13 1K output TPM "
        "would break even, at 3,289,846 requests a month"
    ) in text


def test_cli_vertex_table_names_the_shipped_price(run, tmp_path: Path) -> None:
    done = run(
        "estimate",
        _file(tmp_path, "anthropic/claude-haiku-4-5", 10_000_000),
        "--provisioned",
        "vertex-global/claude-haiku-4-5",
        "--term",
        "1-year",
        "--units",
        "8",
    )
    assert done.exit_code == 0, done.output
    text = " ".join(done.stdout.split())
    assert "on-demand vs provisioned vertex-global/claude-haiku-4-5: 8 GSU on the 1-year" in text
    assert "$15,780.82" in text  # 15,780.82191552 a month, to the cent
    assert "8,092,729" in text  # break-even requests, 8,092,729.187.. rounded


def test_cli_tables_name_a_month_price_and_an_output_side(run, tmp_path: Path) -> None:
    done = run(
        "estimate",
        _file(tmp_path, "openai/gpt-4.1", 1_000_000),
        "--provisioned",
        "azure-global/gpt-4.1",
        "--term",
        "monthly",
        "--units",
        "15",
    )
    assert done.exit_code == 0, done.output
    text = " ".join(done.stdout.split())
    # a reservation is shown in its own unit: $260 a PTU-month; 15 x 260 = 3,900
    assert "15 PTU on the monthly term at $260.00 per PTU-month" in text
    assert "$3,900.00" in text
    done = run(
        "estimate",
        _file(tmp_path, "anthropic/claude-haiku-4-5", 2_000_000),
        "--provisioned",
        "bedrock-reserved/claude-haiku-4-5",
        "--term",
        "1-month",
        "--units",
        "100",
        "--output-units",
        "10",
    )
    assert done.exit_code == 0, done.output
    text = " ".join(done.stdout.split())
    # the "bedrock-haiku" case: 100 x 0.06 + 10 x 0.30 = 9 an hour, 6,480 a month; the
    # volume needs the minimums, 100 input and 10 output units
    assert (
        "100 1K input TPM on the 1-month term at $0.06 per 1K input TPM-hour "
        "+ 10 1K output TPM at $0.30 per 1K output TPM-hour" in text
    )
    assert "$6,480.00" in text
    assert "output units the volume needs 10" in text
    # break-even 3,323,076.92.. > capacity 2,880,000; a request with both sides full
    # costs 0.00195, the same as on demand, so no units in proportion pay either
    assert "not reached (capacity 2,880,000)" in text
    assert (
        "provisioned never breaks even, with any number of 1K input TPM: $0.00195 a request "
        "with both sides fully used is no less than $0.00195 on demand"
    ) in text


# (id, extra arguments, message)
CLI_ERRORS = [
    (
        "no-output-units",
        ["--provisioned", "bedrock-reserved/claude-haiku-4-5", "--term", "1-month"],
        "sells output capacity apart from input: give --output-units "
        "(units of 1K output TPM, at least 10)",
    ),
    (
        "output-units-on-azure",
        ["--provisioned", "azure-global/gpt-4.1", "--output-units", "10"],
        "azure-global/gpt-4.1 sells no output capacity apart; --output-units does not apply",
    ),
    (
        "below-output-minimum",
        [
            "--provisioned",
            "bedrock-reserved/claude-haiku-4-5",
            "--term",
            "1-month",
            "--output-units",
            "5",
        ],
        "bedrock-reserved/claude-haiku-4-5 needs at least 10 1K output TPM, got 5",
    ),
    (
        "vertex-week",
        ["--provisioned", "vertex-global/claude-haiku-4-5", "--term", "1-week"],
        "is not sold on the term '1-week'; its terms: 1-month, 3-month, 1-year",
    ),
]


@pytest.mark.parametrize(
    ("extra", "message"), [c[1:] for c in CLI_ERRORS], ids=[c[0] for c in CLI_ERRORS]
)
def test_cli_errors(run, tmp_path: Path, extra: list[str], message: str) -> None:
    model = "openai/gpt-4.1" if "azure" in extra[1] else "anthropic/claude-haiku-4-5"
    units = "15" if "azure" in extra[1] else ("100" if "bedrock" in extra[1] else "8")
    done = run("estimate", _file(tmp_path, model, 1000), "--units", units, *extra)
    assert done.exit_code == 2
    assert message in " ".join(done.output.split())
    assert "Traceback" not in done.output
