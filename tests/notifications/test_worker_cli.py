"""`open311 worker --once` as an operator runs it: with notifications configured and the
shared secret it sends the reporter's update (and `outbox status` shows the channel); without
the secret it still delivers the report, sends nothing, and says why."""

from __future__ import annotations

import json
import logging
from typing import Any

from click.testing import CliRunner

from open311.cli import main

from .conftest import CONFIG
from .test_notifications import EMAIL, notifications, report


def _run(db_url: str, *args: str) -> Any:
    result = CliRunner().invoke(main, ["--database-url", db_url, "--config", str(CONFIG), *args])
    assert result.exit_code == 0, result.output
    return result


def test_the_worker_sends_with_the_secret(
    app, client, submit_key, db_url, mail_server, monkeypatch
) -> None:
    monkeypatch.setenv("OPEN311_SECRET_KEY", app.config["SECRET_KEY"])
    report(client, submit_key, email=EMAIL, notify="email")
    _run(db_url, "worker", "--once", "--sync-every", "0")
    (mail,) = mail_server.mails
    link = mail.message["List-Unsubscribe"].strip("<>")
    assert client.get(link.removeprefix("https://report.testcity.example")).status_code == 200
    status = json.loads(_run(db_url, "outbox", "status", "--json").output)
    assert "notify/email" in {row["destination"] for row in status}


def test_without_the_secret_reports_go_and_updates_wait(
    app, client, submit_key, db_url, mail_server, monkeypatch, caplog
) -> None:
    monkeypatch.delenv("OPEN311_SECRET_KEY", raising=False)
    caplog.set_level(logging.ERROR, logger="open311.worker")
    report(client, submit_key, email=EMAIL, notify="email")
    _run(db_url, "worker", "--once", "--sync-every", "0")
    assert mail_server.mails == []
    assert [d.state for d in notifications(app)] == ["pending"]
    assert any("OPEN311_SECRET_KEY is not set" in r.getMessage() for r in caplog.records)


def test_check_config_refuses_a_bad_channel(tmp_path, monkeypatch) -> None:
    import yaml

    raw = yaml.safe_load(CONFIG.read_text())
    raw["notifications"]["sms"]["url"] = "ftp://sms.example"
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(raw))
    for name in ("TEST_SMTP_PORT", "TEST_SMS_URL", "TEST_SMS_TOKEN"):
        monkeypatch.setenv(name, "25" if name == "TEST_SMTP_PORT" else "x")
    result = CliRunner().invoke(main, ["check-config", str(path)])
    assert result.exit_code == 1
    assert "notifications.sms.url" in result.output
