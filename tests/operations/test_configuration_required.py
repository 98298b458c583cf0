"""Outside `open311 demo`, nothing serves, delivers or syncs on the bundled demo
configuration: without OPEN311_CONFIG or --config the command stops at once, saying so."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from open311 import create_app
from open311.catalog import ConfigError
from open311.cli import main

from .conftest import clean_env

IMPORTS = Path(__file__).parents[1] / "imports"


@pytest.mark.parametrize(
    "command",
    [
        ["serve"],
        ["worker", "--once"],
        ["sync"],
        ["keys", "create", "x", "--agency", "roads"],
        [
            "import",
            str(IMPORTS / "legacy-new-haven.csv"),
            "--mapping",
            str(IMPORTS / "legacy-new-haven.yaml"),
        ],
    ],
)
def test_commands_refuse_to_run_without_a_configuration(command: list[str], tmp_path: Path) -> None:
    database = tmp_path / "open311.db"
    env = clean_env(OPEN311_DATABASE_URL=f"sqlite:///{database}")
    result = CliRunner().invoke(main, command, env=env)
    assert result.exit_code == 1, result.output
    assert "OPEN311_CONFIG" in result.output and "--config" in result.output
    assert not database.exists()  # refused before touching anything


def test_the_app_refuses_to_start_without_a_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPEN311_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="OPEN311_CONFIG"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
