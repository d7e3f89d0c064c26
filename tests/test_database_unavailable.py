"""A database that cannot be opened or written: every command says so in one line and exits (issue
10, item 10), and the running bot answers politely, keeps going and recovers (item 11)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from storage.base import DatabaseUnavailable
from storage.sqlite import SQLiteStorage
from tests.conftest import UNITS

SCRIPT = Path(sys.executable).parent / "feedback-bot"
COMMANDS = [
    ["run"],
    ["dossier", "add", "HS-1", "--unit", "Q1", "--procedure", "Đăng ký khai sinh"],
    ["dossier", "list"],
    ["digest"],
    ["outbox"],
    ["answers"],
]


def feedback_bot(folder: Path, database: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command in a process of its own: a hang would be a timeout here, not a test that
    waits forever."""
    config = folder / "config.yaml"
    config.write_text(
        yaml.safe_dump({"database": database, "secret": "s3cret-for-tests", "units": UNITS}), encoding="utf-8"
    )
    return subprocess.run(
        [str(SCRIPT), "--config", str(config), *args],
        env={**os.environ, "TELEGRAM_BOT_TOKEN": "123:ABC", "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=folder,
    )


def assert_one_line(done: subprocess.CompletedProcess[str], cause: str, path: Path) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last == f"feedback-bot: cannot open the database {path}: {cause}"


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_corrupt_database_stops_every_command_with_one_line(tmp_path: Path, command: list[str]):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "feedback.db").write_bytes(random.Random(10).randbytes(8192))
    done = feedback_bot(tmp_path, "data/feedback.db", *command)
    assert_one_line(done, "file is not a database", tmp_path / "data" / "feedback.db")


@pytest.mark.parametrize("command", [["run"], ["dossier", "list"]], ids=lambda c: c[0])
def test_a_database_whose_folder_is_a_file_stops_with_one_line(tmp_path: Path, command: list[str]):
    # As root, permission bits stop nothing; a path through a regular file fails for everyone.
    (tmp_path / "data").write_text("not a folder", encoding="utf-8")
    done = feedback_bot(tmp_path, "data/feedback.db", *command)
    assert_one_line(done, f"{tmp_path / 'data'} is a file, not a folder", tmp_path / "data" / "feedback.db")


async def test_a_failed_open_raises_database_unavailable_and_leaves_no_thread(tmp_path: Path):
    import threading

    path = tmp_path / "feedback.db"
    path.write_bytes(b"\x00garbage" * 1000)
    before = set(threading.enumerate())
    store = SQLiteStorage(path)
    with pytest.raises(DatabaseUnavailable, match="file is not a database"):
        await store.open()
    # aiosqlite's thread is not a daemon: one left running keeps the process from exiting.
    left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    for thread in left:
        thread.join(5)
    assert not [t for t in left if t.is_alive()]
