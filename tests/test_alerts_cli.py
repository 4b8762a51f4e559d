"""``llmtally alerts``: add, list, remove and check rules; the alerts fired as a
table that fits 80 columns and as exact JSON; bad input is one line that says
why; the webhook's secret appears in no output."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alerts_support import Receiver, paid
from llmtally.cli import app
from llmtally.ledger import open_store

SECRET = "tok-SECRET-5"


def test_the_alerts_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    database = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    monkeypatch.setenv("LLMTALLY_DATABASE_URL", database)
    monkeypatch.setenv("COLUMNS", "80")
    runner = CliRunner()
    with Receiver() as receiver:
        config = tmp_path / "llmtally.yaml"
        config.write_text(
            "alerts:\n"
            f"  webhooks: {{ops: {{url: '{receiver.url}/hook?token={SECRET}'}}}}\n"
            "  anomalies: [{name: spikes, floor_usd: '100'}]\n"
        )

        def run(*args: str) -> tuple[int, str]:
            done = runner.invoke(app, ["alerts", *args, "--config", str(config)])
            assert SECRET not in done.output
            return done.exit_code, done.output

        add = ["add", "team", "--amount-usd", "1", "--period", "total", "--user", "alice"]
        assert run(*add, "--webhook", "ops") == (
            0, "Added alert rule 'team' (user=alice): $1.00 in total at 50, 80, 100%.\n",
        )  # fmt: skip
        assert run(*add)[0] == 1 and "exists already" in run(*add)[1]
        code, said = run("add", "x", "--amount-usd", "1", "--period", "day", "--webhook", "pager")
        assert (
            code == 2 and "--webhook 'pager' is not in the config's alerts.webhooks (ops)" in said
        )
        code, said = run("add", "spikes", "--anomaly")
        assert code == 2 and "the config already has an alert rule named 'spikes'" in said
        code, said = run("add", "y", "--amount-usd", "-1", "--period", "day")
        assert code == 2 and "amount_usd: Input should be greater than 0" in said

        with open_store(database) as store:
            now = dt.datetime.now(dt.UTC)
            store.insert_many([paid("0.6", now - dt.timedelta(minutes=1), user="alice")])
        code, said = run("list", "--json")
        rules = {rule["name"]: rule for rule in json.loads(said)}
        assert (rules["team"]["spend_usd"], rules["team"]["used_share"]) == ("0.6", "0.6")
        assert rules["team"]["source"] == "ledger" and rules["spikes"]["source"] == "config"
        code, said = run("list")
        assert code == 0 and "$0.60 (60%)" in said and "spike > 3x usual" in said
        assert max(len(line) for line in said.splitlines()) <= 80

        code, said = run("check", "--json")
        (fired,) = json.loads(said)["fired"]
        assert (fired["threshold_percent"], fired["spend_usd"]) == (50, "0.6")
        assert fired["deliveries"][0]["state"] == "delivered"
        assert fired["deliveries"][0]["target"] == f"{receiver.url}/hook"
        assert [b["id"] for b in receiver.bodies()] == [fired["id"]]
        assert run("check") == (0, "0 alerts fired.\n")

    listed = runner.invoke(app, ["alerts"])
    assert listed.exit_code == 0, listed.output
    assert "1 alert fired" in listed.output and "50% of $1.00 in total" in listed.output
    assert "ops: delivered" in listed.output
    assert max(len(line) for line in listed.output.splitlines()) <= 80
    (exact,) = json.loads(runner.invoke(app, ["alerts", "--json"]).output)
    assert exact["amount_usd"] == "1" and exact["text"].startswith("llmtally alert 'team'")
    later = runner.invoke(app, ["alerts", "--json", "--since", "2100-01-01"])
    assert json.loads(later.output) == []

    assert run("remove", "team") == (0, "Removed alert rule 'team'.\n")
    code, said = run("remove", "team")
    assert code == 1 and "no alert rule named 'team'" in said
    code, said = run("remove", "spikes")
    assert code == 1 and "is in the config file: remove it there" in said


def test_a_ledger_that_cannot_be_reached_is_one_line() -> None:
    down = "postgresql+psycopg://postgres@127.0.0.1:1/none"
    for args in (["alerts"], ["alerts", "list"], ["alerts", "check"]):
        done = CliRunner().invoke(app, [*args, "--database", down])
        assert done.exit_code == 1, args
        assert done.output.startswith("error: cannot open the ledger: OperationalError")
        assert "Traceback" not in done.output
