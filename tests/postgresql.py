"""A PostgreSQL server for the tests: the one FEEDBACK_BOT_TEST_POSTGRESQL names, or a throwaway one.

The throwaway server is made with the initdb and pg_ctl of the PostgreSQL the machine has, once per
test session and only when a test asks for it, on a free port of 127.0.0.1 with its socket and data
in a temporary folder; it trades durability for speed (fsync off) and is stopped and removed when
the session ends. Each test gets a database of its own on it (`fresh_database`, `drop_database`).
"""

from __future__ import annotations

import atexit
import itertools
import os
import pwd
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from tests.ports import free_port

ENV_SERVER = "FEEDBACK_BOT_TEST_POSTGRESQL"
HOW_TO_GET_ONE = f"install the Debian package postgresql, or set {ENV_SERVER}"
# PostgreSQL refuses to run as root; as root (CI, containers) the server runs as this user.
SERVER_USER = "postgres"
DEBIAN_BINARIES = Path("/usr/lib/postgresql")
# Tests only: a crash of the test server may lose data, so nothing waits for the disk.
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "timezone": "UTC",
}
# A benchmark's server (bench/_postgresql.py) waits for the disk at every commit, as a deployment's.
DURABLE_SETTINGS = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
# A server's folder: /tmp/feedback-bot-pg-*, with the pid of the test session that owns it.
FOLDER_PREFIX = "feedback-bot-pg-"
OWNER_FILE = "owner.pid"


class PostgreSQLUnavailable(Exception):
    """No server to test against; the message says what is missing and how to get it."""


def find_binaries() -> Path | None:
    """The folder of initdb, pg_ctl and postgres: from PATH, else the newest /usr/lib/postgresql/*/bin."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        # pg_ctl runs the postgres beside its real self, so follow symbolic links (/usr/local/bin).
        folder = Path(initdb).resolve().parent
        if (folder / "pg_ctl").is_file() and (folder / "postgres").is_file():
            return folder
    versions = []
    for folder in DEBIAN_BINARIES.glob("*/bin"):
        number = folder.parent.name
        if re.fullmatch(r"\d+(\.\d+)?", number) and all(
            (folder / name).is_file() for name in ("initdb", "pg_ctl", "postgres")
        ):
            versions.append((tuple(int(part) for part in number.split(".")), folder))
    return max(versions)[1] if versions else None


def with_database(url: str, name: str) -> str:
    """The same server URL with another database name."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def server_user() -> str | None:
    """The user to run the server as: None for the current one, SERVER_USER when that is root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise PostgreSQLUnavailable(
            f"running as root, and PostgreSQL refuses root, but there is no user {SERVER_USER!r} "
            f"to run it as: {HOW_TO_GET_ONE} (the package creates the user)"
        ) from None
    return SERVER_USER


def folder_base(as_user: str | None) -> Path:
    # /tmp rather than $TMPDIR when the server runs as another user, who must reach the folder. The
    # server's socket is made in the folder, and a unix socket's path has at most 107 bytes.
    return Path("/tmp" if as_user else tempfile.gettempdir())


@dataclass
class ThrowawayServer:
    """A PostgreSQL server in a temporary folder, reachable as postgres@127.0.0.1 without password."""

    binaries: Path
    folder: Path
    as_user: str | None
    port: int = 0

    @classmethod
    def make(cls, binaries: Path) -> ThrowawayServer:
        """A server in a new folder, not yet started; the folder names the process that owns it."""
        as_user = server_user()
        folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX, dir=folder_base(as_user)))
        (folder / OWNER_FILE).write_text(str(os.getpid()))
        if as_user:
            shutil.chown(folder, as_user, as_user)
        return cls(binaries, folder, as_user)

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, *arguments: str) -> subprocess.CompletedProcess[str]:
        # Nothing from the caller's PG* environment (PGDATA, PGPORT, ...) may steer the test server.
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        return subprocess.run(
            [str(self.binaries / program), *arguments],
            cwd=self.folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            user=self.as_user,
            group=self.as_user,
            extra_groups=[] if self.as_user else None,
        )

    def start(self, settings: str = "", *, durable: bool = False) -> None:
        """initdb, then start the server; `settings` (postgresql.conf lines) are added to its config.
        Durable: with DURABLE_SETTINGS rather than the tests' speed over safety."""
        made = self._run(
            "initdb",
            "--pgdata",
            str(self.data),
            "--username",
            "postgres",
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--locale",
            "C",
            "--no-sync",
            "--no-instructions",
        )
        if made.returncode != 0:
            raise RuntimeError(f"initdb failed in {self.folder}:\n{made.stdout}\n{made.stderr}")
        if settings:
            with (self.data / "postgresql.conf").open("a", encoding="utf-8") as config:
                config.write("\n" + settings + "\n")
        # A free port may be taken between the probe and the server's bind: try a few.
        for _attempt in range(3):
            self.port = free_port()
            options = [f"-p {self.port}", f"-k {self.folder}"]
            chosen = {**SERVER_SETTINGS, **DURABLE_SETTINGS} if durable else SERVER_SETTINGS
            options += [f"-c {name}={value}" for name, value in chosen.items()]
            started = self._run(
                "pg_ctl", "start", "--pgdata", str(self.data), "--log", str(self.log), "--wait",
                "--timeout", "30", "--options", " ".join(options),
            )  # fmt: skip
            if started.returncode == 0:
                return
            self._run("pg_ctl", "stop", "--pgdata", str(self.data), "--mode", "immediate")
        log = self.log.read_text(errors="replace") if self.log.exists() else ""
        raise RuntimeError(f"pg_ctl could not start PostgreSQL in {self.folder}:\n{started.stderr}\n{log}")

    def stop(self) -> None:
        if self.data.exists():
            self._run("pg_ctl", "stop", "--pgdata", str(self.data), "--mode", "immediate", "--wait")
        shutil.rmtree(self.folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_abandoned_servers(binaries: Path) -> None:
    """Stops and removes the servers of earlier sessions that were killed before they could stop them.

    A session stops its server at exit; one killed (SIGKILL, SIGTERM) leaves it running, so the next
    session sweeps the folders whose owning process is gone.
    """
    as_user = server_user()
    for folder in folder_base(as_user).glob(FOLDER_PREFIX + "*"):
        try:
            owner = int((folder / OWNER_FILE).read_text())
            mine = as_user is not None or folder.stat().st_uid == os.geteuid()
        except (OSError, ValueError):
            continue
        if mine and not _alive(owner):
            ThrowawayServer(binaries, folder, as_user).stop()


class _Session:
    """The server of this test session, found or started on first use."""

    def __init__(self) -> None:
        self._url: str | None = None
        self._failure: Exception | None = None
        self._server: ThrowawayServer | None = None

    def url(self) -> str:
        if self._url is None and self._failure is None:
            try:
                self._url = self._find_or_start()
            except Exception as failure:
                self._failure = failure
        if self._failure is not None:
            raise self._failure
        assert self._url is not None
        return self._url

    def _find_or_start(self) -> str:
        given = os.environ.get(ENV_SERVER, "").strip()
        if given:
            return given
        binaries = find_binaries()
        if binaries is None:
            raise PostgreSQLUnavailable(
                f"no PostgreSQL to test against: initdb and pg_ctl are neither on PATH nor in "
                f"{DEBIAN_BINARIES}/*/bin; {HOW_TO_GET_ONE}"
            )
        stop_abandoned_servers(binaries)
        server = ThrowawayServer.make(binaries)
        # Registered before the start, so that a half-started server is stopped too.
        atexit.register(server.stop)
        self._server = server
        server.start()
        return server.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
            self._url = None


session = _Session()
_names = itertools.count(1)


def server_url() -> str:
    """The maintenance URL of the session's server; raises PostgreSQLUnavailable when there is none."""
    return session.url()


def fresh_database(server: str, template: str | None = None) -> str:
    """Creates a database with a name of its own on the server; returns its URL. It is empty, or a
    copy of the database of the URL `template` (which nobody may be connected to meanwhile): a
    database migrated once per session and copied for each test saves migrating each time."""
    name = f"feedback_test_{os.getpid()}_{next(_names)}_{secrets.token_hex(3)}"
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        source = urlsplit(template).path.lstrip("/")
        create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(source))
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(create)
    return with_database(server, name)


def drop_database(server: str, url: str) -> None:
    """Drops the database of this URL, ending whatever connections a test left open to it."""
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def database(server: str, template: str | None = None) -> Iterator[str]:
    """A fresh database (empty, or a copy of `template`) for the length of the block."""
    url = fresh_database(server, template)
    try:
        yield url
    finally:
        drop_database(server, url)
