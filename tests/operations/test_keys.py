"""`open311 keys create --agency` accepts only an agency the configuration has."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from open311.cli import main

from .conftest import clean_env, write_config


def test_a_staff_key_for_an_unknown_agency_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    env = clean_env(OPEN311_DATABASE_URL=f"sqlite:///{tmp_path}/k.db", OPEN311_CONFIG=str(config))
    runner = CliRunner()
    refused = runner.invoke(
        main, ["keys", "create", "clerk", "--role", "staff", "--agency", "x"], env=env
    )
    assert refused.exit_code == 1
    assert "no agency 'x'" in refused.output and "roads" in refused.output
    made = runner.invoke(
        main, ["keys", "create", "clerk", "--role", "staff", "--agency", "roads"], env=env
    )
    assert made.exit_code == 0 and made.stdout.startswith("o311_"), made.output
    listed = runner.invoke(main, ["keys", "list"], env=env)
    assert listed.output.count("clerk\tstaff\troads") == 1
