"""What the city-sized benchmarks share (not a benchmark itself): the unit tree of a city, a
database file made with every migration, and the peak memory of the measuring process."""

from __future__ import annotations

import resource
import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage.sqlite.db import _statements, migrations


def units() -> list[tuple[str, str, str | None]]:
    """City → 24 departments and 24 districts → 322 wards: 371 units, 3 levels."""
    found: list[tuple[str, str, str | None]] = [("HCM", "TP. Hồ Chí Minh", None)]
    found += [(f"SO{n:02}", f"Sở số {n}", "HCM") for n in range(24)]
    found += [(f"Q{d:02}", f"UBND Quận {d}", "HCM") for d in range(24)]
    found += [(f"Q{w % 24:02}-P{w:03}", f"UBND Phường {w}", f"Q{w % 24:02}") for w in range(322)]
    return found


def new_database(path: Path) -> sqlite3.Connection:
    """A database at `path` with every migration applied and the city's units, written fast (no
    fsync: it is rebuilt if lost)."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = OFF")
    for number, script in migrations():
        for statement in _statements(script):
            db.execute(statement)
        db.execute(f"PRAGMA user_version = {number}")
    db.executemany("INSERT INTO units (code, name, parent_code) VALUES (?, ?, ?)", units())
    return db


def peak_mb() -> float:
    """This process's peak resident memory. Not getrusage's ru_maxrss, which Linux carries over
    exec from the parent that built the database."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
