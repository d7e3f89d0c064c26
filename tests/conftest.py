"""Shared fixtures: a real SQLite database in a temporary folder, a config with two units, and
the dispatcher every channel calls."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import Handlers, build_handlers, links_for, seed_directory
from bot.config import Config
from handlers.buttons import Button
from handlers.chat import BUTTON_CHANNELS, Address, Incoming, Kind, Reply
from handlers.dispatch import Dispatcher
from handlers.typed import number_replies, remember_shown
from storage.records import Dossier
from storage.sqlite import SQLiteStorage
from tests import postgresql

pytest_plugins = ("tests.cli_support",)

ADMINS = [{"name": "Quản trị Sở Nội vụ", "telegram": 9001}]
NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
UNITS = [
    {
        "code": "Q1",
        "name": "UBND Quận 1",
        "head": {"name": "Nguyễn Văn A", "telegram": 2001},
        "staff": [{"name": "Trần Thị B", "telegram": 2002}],
        "children": [
            {
                "code": "Q1-BN",
                "name": "UBND Phường Bến Nghé",
                "head": {"name": "Lê Văn C", "telegram": 2101},
                "staff": [{"name": "Phạm Thị D", "telegram": 2102}, {"name": "Võ Văn E", "telegram": 2103}],
            }
        ],
    },
    {"code": "Q3", "name": "UBND Quận 3", "head": {"name": "Đỗ Thị F", "telegram": 3001}},
]


def make_config(tmp_path: Path, **overrides: object) -> Config:
    data: dict[str, object] = {
        "database": str(tmp_path / "feedback.db"),
        "secret": "test-secret",
        "units": UNITS,
        "admins": ADMINS,
        "telegram": {"token": "123:ABC", "username": "TestNameBot"},
    }
    data.update(overrides)
    return Config.model_validate(data)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path)


@pytest.fixture
async def store(config: Config) -> AsyncIterator[SQLiteStorage]:
    db = SQLiteStorage(config.database)
    await db.open()
    await seed_directory(db, config)
    yield db
    await db.close()


@pytest.fixture
def handlers(config: Config, store: SQLiteStorage) -> Handlers:
    return build_handlers(config, store)


@pytest.fixture
def dispatcher(handlers: Handlers) -> Dispatcher:
    return handlers.dispatcher


class Citizen:
    """A person in one chat, talking to the dispatcher as a channel would pass their messages on."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        chat_id: str = "1001",
        channel: str = "telegram",
        language_hint: str | None = "vi",
    ) -> None:
        self.dispatcher = dispatcher
        self.address = Address(channel, chat_id)
        self.language_hint = language_hint
        self.now = NOW
        self.last: list[Reply] = []
        self.fetched = 0

    async def _send(self, kind: Kind, **fields: object) -> list[Reply]:
        incoming = Incoming(
            self.address, kind, self.address.chat_id, self.now, language_hint=self.language_hint, **fields
        )  # type: ignore[arg-type]
        self.last = await self.dispatcher.handle(incoming)
        if self.address.channel not in BUTTON_CHANNELS:  # as a channel does once the replies went out
            shown = await number_replies(
                self.dispatcher.chats, self.address, self.last, conversation=True, now=self.now
            )
            await remember_shown(self.dispatcher.chats, shown, len(shown.texts), self.now)
        return self.last

    async def command(self, name: str, argument: str = "") -> list[Reply]:
        return await self._send(Kind.COMMAND, command=name, text=argument)

    async def say(self, message: str) -> list[Reply]:
        return await self._send(Kind.TEXT, text=message)

    async def press(self, label: str) -> list[Reply]:
        """Presses the option with this label on the last reply that offered it."""
        for reply in reversed(self.last):
            for option in reply.options:
                if option.label == label:
                    return await self._send(Kind.OPTION, option=option.key)
        raise AssertionError(f"no option {label!r} in {[r.options for r in self.last]}")

    async def press_key(self, key: str | Button) -> list[Reply]:
        """Presses a button by its data, as a forged or replayed press would come too."""
        return await self._send(Kind.OPTION, option=key.pack() if isinstance(key, Button) else key)

    async def send_photo(self) -> list[Reply]:
        return await self._send(Kind.UNSUPPORTED)

    async def send_document(self, name: str, data: bytes | None) -> list[Reply]:
        """Sends a file; `data` None is one that cannot be fetched. `fetched` counts the fetches."""

        async def fetch(limit: int) -> bytes | None:
            self.fetched += 1
            return data if data is not None and len(data) <= limit else None

        return await self._send(Kind.DOCUMENT, text=name, attachment=fetch)


async def add_dossier(
    config: Config,
    store: SQLiteStorage,
    code: str = "HS-001",
    *,
    unit: str = "Q1-BN",
    returned: bool = True,
    procedure: str = "Đăng ký khai sinh",
) -> tuple[Dossier, str]:
    """A dossier and the token of its survey link."""
    links = links_for(config)
    dossier = await store.dossiers.add_dossier(
        code=code,
        unit_code=unit,
        procedure=procedure,
        link_id=links.new_link_id(),
        now=NOW - timedelta(days=3),
        returned_at=NOW - timedelta(hours=1) if returned else None,
    )
    return dossier, links.token(dossier.link_id)


def texts(replies: list[Reply]) -> str:
    return "\n".join(r.text for r in replies)


def labels(replies: list[Reply]) -> list[str]:
    return [o.label for r in replies for o in r.options]


# End-to-end fixtures. The emulators are imported only when an end-to-end test asks for them.


def _running(emulator_class: Any) -> Iterator[Any]:
    with emulator_class() as emulator:
        yield emulator
    # The emulator module leaves its server's output pipe open; close it so no ResourceWarning fires.
    if emulator._process is not None and emulator._process.stdout is not None:
        emulator._process.stdout.close()


@pytest.fixture(scope="module")
def tg() -> Iterator[Any]:
    """The Telegram emulator, one per test module; each test's bot has its own token."""
    from tests.e2e_support import TelegramEmulator

    yield from _running(TelegramEmulator)


@pytest.fixture(scope="module")
def zalo() -> Iterator[Any]:
    """The Zalo emulator, one per test module."""
    from tests.e2e_support import ZaloEmulator

    yield from _running(ZaloEmulator)


@pytest.fixture
async def people(tg: Any) -> AsyncIterator[Callable[[Any, int], Any]]:
    """Telegram users talking to a bot; their connections are closed afterwards."""
    made: list[Any] = []

    def person(bot: Any, user_id: int) -> Any:
        made.append(tg.user(bot.token, user_id=user_id))
        return made[-1]

    yield person
    for user in made:
        await user.aclose()


# PostgreSQL: the server is found or started (tests/postgresql.py) when the first test asks for it.


@pytest.fixture(scope="session")
def postgresql_server_url() -> Iterator[str]:
    """The maintenance URL of the session's PostgreSQL server, for tests that make several databases."""
    try:
        url = postgresql.server_url()
    except postgresql.PostgreSQLUnavailable as missing:
        pytest.skip(str(missing))
    yield url
    postgresql.session.stop()


@pytest.fixture
def postgresql_url(postgresql_server_url: str) -> Iterator[str]:
    """The URL of a fresh, empty database of this test's own, dropped afterwards."""
    with postgresql.database(postgresql_server_url) as url:
        yield url


@pytest.fixture(scope="session")
def postgresql_migrated_template(postgresql_server_url: str) -> Iterator[str]:
    """A database migrated once per session, to be copied (migrating each test's own costs more)."""
    import psycopg

    from storage.postgresql.migrate import migrate

    url = postgresql.fresh_database(postgresql_server_url)
    with psycopg.connect(url, autocommit=True) as connection:
        migrate(connection)
    yield url
    postgresql.drop_database(postgresql_server_url, url)


@pytest.fixture
def postgresql_migrated_url(postgresql_server_url: str, postgresql_migrated_template: str) -> Iterator[str]:
    """The URL of a fresh database of this test's own with every migration applied."""
    with postgresql.database(postgresql_server_url, template=postgresql_migrated_template) as url:
        yield url


@pytest.fixture(scope="session")
def postgresql_shared_database(
    postgresql_server_url: str, postgresql_migrated_template: str
) -> Iterator[str]:
    """One migrated database for the tests that use only the repositories, emptied before each."""
    url = postgresql.fresh_database(postgresql_server_url, template=postgresql_migrated_template)
    yield url
    postgresql.drop_database(postgresql_server_url, url)


@pytest.fixture
def postgresql_emptied_url(postgresql_shared_database: str) -> str:
    """The shared migrated database, as a fresh copy of the template would be: every table emptied,
    ids started again, the counters the migrations seed at 0. A tenth of the time a fresh copy
    takes (CREATE DATABASE is about 0.2-0.6 s), which the storage suite pays some 400 times."""
    import psycopg

    with psycopg.connect(postgresql_shared_database, autocommit=True) as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
                " AND tablename <> 'schema_migrations'"
            )
        ]
        connection.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        connection.execute(
            "INSERT INTO versions (name, value) VALUES ('question_sets', 0), ('answer_changes', 0)"
        )
    return postgresql_shared_database
