"""Lateness scale: 371 units with 200,000 open dossiers (due from three weeks ago to ten weeks
ahead) and a year of returned ones, a tenth of them extended with an apology letter; then, through
the real storage and handlers code, every at-risk and late dossier of the day, and the lateness
table for the year. In the same run, a plain COUNT(*) over the dossiers is timed as the floor.
Prints the figures and the peak memory of the process that measures them.

    .venv/bin/python bench/lateness_scale.py [--open 200000] [--returned 400000] [--keep DB]

The database is built once into a temporary folder; the measuring runs in a fresh process, so its
peak memory is the lateness work's own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _city import new_database, peak_mb, units

DAY = date(2026, 11, 26)  # a Thursday
ZONE = ZoneInfo("Asia/Ho_Chi_Minh")


def at(day: date, hour: int) -> str:
    return datetime(day.year, day.month, day.day, hour, tzinfo=ZONE).astimezone(UTC).isoformat()


def build(path: Path, open_dossiers: int, returned: int) -> None:
    random.seed(2016)
    db = new_database(path)
    codes = [code for code, _, _ in units()]
    dossiers, events, letters = [], [], []
    for n in range(open_dossiers + returned):
        is_open = n < open_dossiers
        if is_open:
            due = DAY + timedelta(days=random.randint(-21, 70))
            back = None
        else:
            due = DAY - timedelta(days=random.randint(1, 365))
            back = at(due + timedelta(days=random.choice([-2, -1, 0, 0, 0, 1, 3])), 10)
        received = due - timedelta(days=10)
        dossiers.append((
            n + 1, f"HS-{n:07}", random.choice(codes), "Đăng ký kinh doanh", received.isoformat(),
            due.isoformat(), back, f"L{n}", at(received, 8), "Nguyễn Văn An", "84901234567",
            "returned" if back else "received",
        ))  # fmt: skip
        if random.random() < 0.1:
            issued = at(due - timedelta(days=random.choice([1, 2, 0])), 9)
            new_due = at(due + timedelta(days=5), 17)
            events.append((n + 1, n + 1, "extended", issued, "Chờ ý kiến", new_due))
            letters.append((n + 1, n + 1, n + 1, "Chờ ý kiến", due.isoformat(), new_due, issued, issued))
    db.executemany(
        "INSERT INTO dossiers (id, code, unit_code, procedure, received_on, due_on, returned_at, link_id,"
        " created_at, citizen_name, phone, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        dossiers,
    )
    db.executemany(
        "INSERT INTO dossier_events (id, dossier_id, type, at, reason, new_due_at, recorded_at, recorded_by)"
        " VALUES (?, ?, ?, ?, ?, ?, ?4, 'bench')",
        events,
    )
    db.executemany(
        "INSERT INTO letters (id, dossier_id, event_id, reason, due_on, new_due_at, issued_at, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        letters,
    )
    db.executemany(
        "INSERT INTO letter_deliveries (letter_id, channel, chat_id, status, created_at, sent_at)"
        " VALUES (?, 'zns', '84901234567', 'not_delivered', ?, ?)",
        [(letter[0], letter[6], letter[6]) for letter in letters],
    )
    db.commit()
    db.execute("ANALYZE")
    db.close()


async def measure(path: Path) -> dict[str, float]:
    """In this process: the floor, then the day's watch, the digest's letter figures and the year's table."""
    from handlers.digest import letter_watch
    from handlers.lateness import lateness_table, watch
    from storage.sqlite import SQLiteStorage

    with sqlite3.connect(path) as raw:
        started = time.perf_counter()
        raw.execute("SELECT COUNT(*) FROM dossiers").fetchall()
        floor = time.perf_counter() - started

    store = SQLiteStorage(path)
    await store.open()
    holidays = frozenset({date(2026, 9, 2), date(2026, 1, 1)})
    started = time.perf_counter()
    day = await watch(store.letters, None, DAY, holidays)
    watched = time.perf_counter() - started
    at_risk, late = len(day.at_risk), len(day.late)
    del day  # a digest run holds only its own figures
    started = time.perf_counter()
    _, _, figures = await letter_watch(store.letters, DAY, holidays, ZONE)
    digest_letters = time.perf_counter() - started
    started = time.perf_counter()
    table = await lateness_table(store.letters, DAY - timedelta(days=365), DAY, holidays, ZONE)
    tabled = time.perf_counter() - started
    await store.close()
    return {
        "floor": floor,
        "watch": watched,
        "at_risk": at_risk,
        "late": late,
        "digest_letters": digest_letters,
        "missing": sum(f.open_missing for f in figures.values()),
        "table": tabled,
        "units": len(table),
        "returned": sum(u.returned for u in table.values()),
        "returned_late": sum(u.returned_late for u in table.values()),
        "peak_mb": peak_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--open", type=int, default=200_000, help="open dossiers (default 200,000)")
    parser.add_argument("--returned", type=int, default=400_000, help="returned over the year before")
    parser.add_argument("--keep", type=Path, help="build the database here and keep it")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(asyncio.run(measure(args.measure))))
        return
    with tempfile.TemporaryDirectory(prefix="lateness-bench-") as folder:
        path = args.keep or Path(folder) / "city.db"
        if not path.exists():
            started = time.perf_counter()
            build(path, args.open, args.returned)
            print(f"built {path.name} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        child = subprocess.run(
            [sys.executable, __file__, "--measure", str(path)], capture_output=True, text=True, check=True
        )
        result = json.loads(child.stdout)
    print(f"{len(units())} units, {args.open:,} open dossiers, {args.returned:,} returned over a year")
    print(f"  floor: SELECT COUNT(*) over the dossiers               {result['floor'] * 1000:8.1f} ms")
    print(
        f"  the day's at-risk ({result['at_risk']:,}) and late ({result['late']:,}) dossiers"
        f"    {result['watch'] * 1000:8.1f} ms"
    )
    print(
        f"  the digests' letter figures, every unit ({result['missing']:,} late without a letter)"
        f"  {result['digest_letters'] * 1000:8.1f} ms"
    )
    print(
        f"  the lateness table for a year ({result['units']} units, {result['returned']:,} returned,"
        f" {result['returned_late']:,} late)  {result['table'] * 1000:8.1f} ms"
    )
    print(f"  peak memory of the measuring process                  {result['peak_mb']:8.1f} MB")


if __name__ == "__main__":
    main()
