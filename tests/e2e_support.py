"""Runs the real `feedback-bot run` process against the local Telegram emulator in ../shared."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import ADMINS, UNITS

# shared/ lies beside the clone (here and in CI); FEEDBACK_BOT_SHARED points elsewhere.
SHARED = Path(os.environ.get("FEEDBACK_BOT_SHARED", Path(__file__).resolve().parents[2] / "shared"))
if not (SHARED / "emulators" / "emulators.py").is_file():
    raise ImportError(
        f"the emulators are not at {SHARED / 'emulators'}: clone beside shared/ or set FEEDBACK_BOT_SHARED"
    )
sys.path.insert(0, str(SHARED / "emulators"))

from emulators import BotMessage, TelegramEmulator, ZaloEmulator  # noqa: E402

SCRIPT = Path(sys.executable).parent / "feedback-bot"

__all__ = ["BotMessage", "BotProcess", "TelegramEmulator", "ZaloEmulator", "texts_of"]


def texts_of(messages: list[BotMessage]) -> str:
    return "\n".join(m.text or "" for m in messages)


class BotProcess:
    """One bot: its own token (so emulator state never mixes between tests), config and database."""

    def __init__(self, tg: TelegramEmulator, folder: Path, **config: Any) -> None:
        self.tg = tg
        self.folder = folder
        self.token = f"{uuid.uuid4().int % 10**9}:TEST{uuid.uuid4().hex[:12]}"
        self.config_path = folder / "config.yaml"
        data = {
            "database": "feedback.db",
            "secret": "e2e-secret",
            "units": UNITS,
            "admins": ADMINS,
            "survey": {"invitation_check_seconds": 0.5},
            "telegram": {
                "username": "TestNameBot",
                "base_url": tg.base_url,
                "base_file_url": tg.base_file_url,
            },
            **config,
        }
        self.config_path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        self.process: subprocess.Popen[str] | None = None
        self.log: list[str] = []

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "TELEGRAM_BOT_TOKEN": self.token, "PYTHONUNBUFFERED": "1"}

    def start(self, timeout: float = 30) -> None:
        self.process = subprocess.Popen(
            [str(SCRIPT), "--config", str(self.config_path), "run"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        ready = threading.Event()

        def read(process: subprocess.Popen[str]) -> None:
            assert process.stderr is not None
            for line in process.stderr:
                self.log.append(line.rstrip("\n"))
                if "feedback bot running" in line:
                    ready.set()

        self._reader = threading.Thread(target=read, args=(self.process,), daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.1):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the bot did not start:\n" + "\n".join(self.log))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        code = self.process.wait(timeout)
        self._reader.join(5)
        assert self.process.stderr is not None
        self.process.stderr.close()
        self.process = None
        return code

    def logged(self, fragment: str, within: float = 10) -> bool:
        """Whether the bot logs a line with `fragment`, waiting for its log to be read."""
        deadline = time.monotonic() + within
        while not any(fragment in line for line in self.log):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def kill(self) -> None:
        """kill -9: no chance to clean up."""
        self.stop(signal.SIGKILL)

    def console(self, typed: str) -> subprocess.CompletedProcess[str]:
        """`feedback-bot console` on this bot's database, with `typed` as what the person types."""
        return subprocess.run(
            [str(SCRIPT), "--config", str(self.config_path), "console"],
            input=typed, env=self.env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SCRIPT), "--config", str(self.config_path), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def add_dossier(
        self, code: str, *, returned: bool = True, unit: str = "Q1-BN", procedure: str = "Đăng ký khai sinh"
    ) -> str:
        """Records a dossier from the command line; returns the token of its survey link."""
        return self.add_dossier_with_code(code, returned=returned, unit=unit, procedure=procedure)[0]

    def add_dossier_with_code(
        self, code: str, *, returned: bool = True, unit: str = "Q1-BN", procedure: str = "Đăng ký khai sinh"
    ) -> tuple[str, str]:
        """Records a dossier from the command line; returns its link token and its survey code."""
        args = ["dossier", "add", code, "--unit", unit, "--procedure", procedure]
        done = self.cli(*args, *(["--returned"] if returned else []))
        assert done.returncode == 0, done.stderr
        link, survey_code = done.stdout.split()
        return link.split("start=", 1)[1], survey_code

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.folder / "feedback.db") as db:
            return db.execute(sql, params).fetchall()

    def __enter__(self) -> BotProcess:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.stop()
