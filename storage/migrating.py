"""The numbered schema migrations shipped with the package, for each SQL dialect: SQLite's in
storage/migrations, PostgreSQL's twins (same numbers, same names) in storage/migrations/postgresql."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Literal

Dialect = Literal["sqlite", "postgresql"]

_FOLDERS: dict[Dialect, tuple[str, ...]] = {
    "sqlite": ("migrations",),
    "postgresql": ("migrations", "postgresql"),
}


@dataclass(frozen=True)
class Migration:
    """One numbered SQL file: `001_initial.sql` is number 1, name "initial"."""

    number: int
    name: str
    script: str


class MigrationFilesClash(RuntimeError):
    """Two files of one dialect carry the same number: which comes first would be a guess."""


def migration_list(dialect: Dialect) -> list[Migration]:
    """The dialect's migrations, in the order they are applied."""
    folder = resources.files("storage")
    for part in _FOLDERS[dialect]:
        folder = folder / part
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        if not (entry.is_file() and entry.name.endswith(".sql")):
            continue
        number, _, name = entry.name.removesuffix(".sql").partition("_")
        migration = Migration(int(number), name, entry.read_text(encoding="utf-8"))
        if migration.number in found:
            raise MigrationFilesClash(
                f"{dialect} migrations {found[migration.number].name!r} and {name!r}"
                f" share the number {migration.number}"
            )
        found[migration.number] = migration
    return [found[number] for number in sorted(found)]
