"""What the command-line tests share: a config file in the test's folder with no secrets from the
environment, the command run in-process, its one-line error, and each test's logging given back.
Loaded for every test module by tests/conftest.py (`pytest_plugins`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from tests.conftest import ADMINS, UNITS


@pytest.fixture(autouse=True)
def restored_logging() -> Iterator[None]:
    """main() sets up logging for the process; each test gets the logging it started with back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for variable in ("TELEGRAM_BOT_TOKEN", "ZALO_BOT_TOKEN", "FEEDBACK_BOT_SECRET", "FEEDBACK_BOT_CONFIG"):
        monkeypatch.delenv(variable, raising=False)
    path = tmp_path / "config.yaml"
    write_config(path)
    return path


def write_config(path: Path, **changes: object) -> None:
    data = {
        "database": "db/feedback.db",
        "secret": "cli-secret",
        "units": UNITS,
        "admins": ADMINS,
        "telegram": {"username": "TestNameBot"},
        **changes,
    }
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def run(config_file: Path, *args: str) -> int:
    return main(["--config", str(config_file), *args])


def error_line(err: str) -> str:
    """The command's one-line error (log lines come before it)."""
    (line,) = [line for line in err.splitlines() if line.startswith("feedback-bot: ")]
    return line
