"""`feedback-bot api`, the real process: it serves the intake API on the configured database until
SIGTERM, beside a bot that serves the same database, and says in one line why it cannot."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml

from storage.sqlite import SQLiteStorage
from tests.conftest import ADMINS, UNITS

SCRIPT = Path(sys.executable).parent / "feedback-bot"
BODY = {
    "unit": "Q1-BN",
    "procedure": "Đăng ký khai sinh",
    "received_at": "20261120083000",
    "due_at": "20261127170000",
}


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    data = {"database": "feedback.db", "secret": "s3cret", "units": UNITS, "admins": ADMINS}
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def cli(config_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), "--config", str(config_file), *args], capture_output=True, text=True, timeout=60
    )


class ApiProcess:
    """`feedback-bot api` running; its log read as it comes, its address from the log."""

    def __init__(self, config_file: Path, *args: str) -> None:
        self.process = subprocess.Popen(
            [str(SCRIPT), "--config", str(config_file), "api", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.log: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.log.append(line.rstrip("\n"))

    def url(self, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log:
                if found := re.search(r"intake API on (http://\S+)/api/docs", line):
                    return found[1]
            assert self.process.poll() is None, "\n".join(self.log)
            time.sleep(0.05)
        raise AssertionError("the API did not start:\n" + "\n".join(self.log))

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(20)
        self.reader.join(5)
        assert self.process.stderr is not None
        self.process.stderr.close()
        return code


@pytest.fixture
def key(config_file: Path) -> str:
    made = cli(config_file, "apikey", "create", "--name", "motcua-q1", "--units", "Q1")
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def test_it_serves_the_api_until_sigterm_and_stops_cleanly(config_file, key):
    api = ApiProcess(config_file, "--port", "0")
    try:
        url = api.url()
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=url, headers=headers) as http:
            assert http.get("/api/health").json() == {"status": "ok"}
            put = http.put("/api/v1/dossiers/HS-API-1", json=BODY)
            assert put.status_code == 201, put.text
            assert http.get("/api/v1/dossiers/HS-API-1").json()["unit"] == "Q1-BN"
    finally:
        assert api.stop() == 0
    assert any("stopping" in line for line in api.log)
    assert not [line for line in api.log if "Traceback" in line or "ERROR" in line], api.log
    assert key not in "\n".join(api.log)
    shown = cli(config_file, "dossier", "show", "HS-API-1")
    assert shown.returncode == 0 and "HS-API-1" in shown.stdout


async def test_it_serves_beside_a_bot_that_holds_the_database(config_file, key):
    bot = SQLiteStorage(config_file.parent / "feedback.db")
    await bot.open()
    await bot.claim_serving()  # as `run` does
    api = ApiProcess(config_file, "--port", "0")
    try:
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=api.url(), headers=headers) as http:
            assert (await http.put("/api/v1/dossiers/HS-API-2", json=BODY)).status_code == 201
    finally:
        assert api.stop() == 0
        await bot.close()


def test_listen_and_port_on_the_command_line_win_over_the_config(tmp_path, config_file):
    data = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    data["api"] = {"listen": "127.0.0.2", "port": 1}  # port 1 would need root, and is not asked for
    config_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    api = ApiProcess(config_file, "--listen", "127.0.0.1", "--port", "0")
    try:
        assert api.url().startswith("http://127.0.0.1:")
    finally:
        assert api.stop() == 0


def test_a_taken_port_is_one_line_naming_it(config_file):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = cli(config_file, "api", "--port", str(port))
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("port", ["70000", "-1", "http"])
def test_a_port_that_is_none_is_refused(config_file, port):
    done = cli(config_file, "api", "--port", port)
    assert done.returncode == 2 and "is not a port from 0 to 65535" in done.stderr


def test_without_a_config_file_no_database_is_created(tmp_path):
    done = subprocess.run(
        [str(SCRIPT), "api", "--port", "0"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "no config file found" in done.stderr
    assert not (tmp_path / "data").exists()
