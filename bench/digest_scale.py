"""Digest scale: a city-sized database (370+ units in a 3-level tree, 1,000,000 answers over a
year, 50,000 cases), then every unit's digest for one day built through the real storage and
digest code. In the same run, one plain SQL aggregate over that day's answers is timed as the
floor. Prints both, their ratio, and the peak memory of the process that builds the digests.

    .venv/bin/python bench/digest_scale.py [--answers 1000000] [--cases 50000] [--keep DB]
                                           [--no-postgresql]

The database is built once into a temporary folder (about a minute); the digests are then built in
a fresh process, so its peak memory is the digest work's own. Then the same on PostgreSQL: a
throwaway server of the machine's PostgreSQL, durable (bench/_postgresql.py), the SQLite database
copied into it by `feedback-bot db copy`'s code (COPY, table by table) and analysed.

Measured 2026-11-27 on a 2-core machine shared with other work, 1,000,000 answers: every unit's
digest for the day in 1.36-2.37 s on PostgreSQL against 0.69-1.90 s on SQLite in the same runs,
3.7-6.4 ms a unit, so each digest is well under 1 s though the 371 together are not. On
PostgreSQL 83 % of it is 765 reads of cases (storage/sql/cases.py list_cases, two a unit, about
1.5 ms each: a sort of the unit tree's open cases, and the plan of each distinct IN list).
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _city import new_database, peak_mb, units
from _postgresql import PostgreSQLUnavailable, database, describe, durable_server, skipped

DAY = date(2026, 11, 26)
YEAR_START = datetime(2025, 11, 27, tzinfo=UTC)


def build(path: Path, answers: int, cases: int) -> None:
    random.seed(2016)
    db = new_database(path)
    all_units = units()
    people = []
    for code, _, _ in all_units:
        people.append((code, "head", f"Thủ trưởng {code}", "telegram", str(10_000 + len(people))))
        people.append((code, "staff", f"Cán bộ {code}", "telegram", str(10_000 + len(people))))
    db.executemany(
        "INSERT INTO people (unit_code, role, name, channel, chat_id) VALUES (?, ?, ?, ?, ?)", people
    )
    codes = [code for code, _, _ in all_units if code != "HCM"]
    seconds = 365 * 24 * 3600
    ratings = ("satisfied", "neutral", "unsatisfied")
    weights = (0.5087, 0.4324, 0.0589)  # the 2016 survey's shares
    batch_d, batch_a = [], []
    for n in range(1, answers + 1):
        at = (YEAR_START + timedelta(seconds=random.randrange(seconds))).isoformat()
        unit = random.choice(codes)
        batch_d.append((n, f"HS-{n:07}", unit, "Đăng ký khai sinh", f"L{n:015}", at, at))
        rating = random.choices(ratings, weights)[0]
        batch_a.append((n, "telegram", str(n), "default", 1, rating, rating, at, at))
        if len(batch_d) == 50_000:
            _flush(db, batch_d, batch_a)
    _flush(db, batch_d, batch_a)
    # Cases: the unsatisfied answers first, then neutral ones with a complaint, up to `cases`.
    rows = db.execute(
        "SELECT a.dossier_id, d.unit_code, a.answered_at"
        " FROM answers a JOIN dossiers d ON d.id = a.dossier_id"
        " ORDER BY a.rating = 'unsatisfied' DESC, a.id LIMIT ?",
        (cases,),
    ).fetchall()
    states = ("new", "assigned", "resolved", "closed", "reopened")
    db.executemany(
        "INSERT INTO cases (dossier_id, unit_code, state, opened_at, deadline, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            (dossier, unit, random.choices(states, (0.05, 0.1, 0.05, 0.78, 0.02))[0], at,
             (datetime.fromisoformat(at) + timedelta(days=5)).date().isoformat(), at)
            for dossier, unit, at in rows
        ],
    )  # fmt: skip
    db.commit()
    db.execute("ANALYZE")
    db.close()


def _flush(db: sqlite3.Connection, dossiers: list, answers: list) -> None:
    db.executemany(
        "INSERT INTO dossiers (id, code, unit_code, procedure, link_id, returned_at, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        dossiers,
    )
    db.executemany(
        "INSERT INTO answers (dossier_id, channel, chat_id, question_set, question_set_version, rating,"
        " rating_option, answered_at, completed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        answers,
    )
    dossiers.clear()
    answers.clear()


async def measure(where: str) -> dict[str, float]:
    """In this process: the floor (one aggregate over the day's answers), then every unit's digest,
    on the SQLite file or PostgreSQL database `where`."""
    from bot.app import build_handlers
    from bot.config import Config
    from storage.backends import is_postgresql, storage_for

    zone_start = datetime(2026, 11, 25, 17, 0, tzinfo=UTC)  # 26/11 00:00 in Ho Chi Minh City
    day = (zone_start.isoformat(), (zone_start + timedelta(days=1)).isoformat())
    aggregate = (
        "SELECT d.unit_code, a.rating, COUNT(*) FROM answers a JOIN dossiers d ON d.id = a.dossier_id"
        " WHERE a.answered_at >= ? AND a.answered_at < ? GROUP BY d.unit_code, a.rating"
    )
    if is_postgresql(where):
        import psycopg

        with psycopg.connect(where) as pg:
            started = time.perf_counter()
            pg.execute(aggregate.replace("?", "%s"), day).fetchall()
            floor = time.perf_counter() - started
    else:
        with sqlite3.connect(where) as raw:
            started = time.perf_counter()
            raw.execute(aggregate, day).fetchall()
            floor = time.perf_counter() - started

    store = storage_for(where)
    await store.open()
    config = Config.model_validate({"database": where, "secret": "bench"})
    handlers = build_handlers(config, store)
    started = time.perf_counter()
    digests = await handlers.digests.build(DAY + timedelta(days=1), show=5)
    built = time.perf_counter() - started
    await store.close()
    assert len(digests) == len(units()) and sum(d.figures.answers for d in digests) > 0
    return {
        "floor": floor,
        "digests": built,
        "units": len(digests),
        "answers_that_day": sum(d.figures.answers for d in digests),
        "peak_mb": peak_mb(),
    }


def measured(where: str) -> dict[str, float]:
    """`measure` in a fresh process."""
    child = subprocess.run(
        [sys.executable, __file__, "--measure", where], capture_output=True, text=True, check=True
    )
    result: dict[str, float] = json.loads(child.stdout)
    return result


def on_postgresql(path: Path) -> tuple[dict[str, float], str, float]:
    """The SQLite city copied into a fresh database of a durable throwaway server, then measured.
    Returns the figures, the server's description and the seconds the copy took."""
    import psycopg

    from storage.copy import copy_database

    with durable_server() as server, database(server) as url:
        started = time.perf_counter()
        checks = copy_database(path, url)
        assert all(check.ok for check in checks), [c for c in checks if not c.ok]
        with psycopg.connect(url, autocommit=True) as pg:
            pg.execute("VACUUM ANALYZE")  # as autovacuum would, given time
        copied = time.perf_counter() - started
        return measured(url), describe(server), copied


def report(result: dict[str, float], answers: int, cases: int, title: str) -> None:
    print(
        f"{title}: {result['units']} units, {answers:,} answers over a year, {cases:,} cases; "
        f"{result['answers_that_day']} answers on the day"
    )
    print(f"  floor: one SQL aggregate over the day's answers   {result['floor'] * 1000:8.1f} ms")
    print(
        f"  every unit's digest for the day                  {result['digests'] * 1000:8.1f} ms  "
        f"ratio {result['digests'] / result['floor']:.1f}"
    )
    print(f"  peak memory of the digest process                {result['peak_mb']:8.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers", type=int, default=1_000_000)
    parser.add_argument("--cases", type=int, default=50_000)
    parser.add_argument("--keep", type=Path, help="build the database here and keep it")
    parser.add_argument("--no-postgresql", action="store_true", help="leave out the PostgreSQL run")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(asyncio.run(measure(args.measure))))
        return
    with tempfile.TemporaryDirectory(prefix="digest-bench-") as folder:
        path = args.keep or Path(folder) / "city.db"
        if not path.exists():
            started = time.perf_counter()
            build(path, args.answers, args.cases)
            print(
                f"built {path.name}: {args.answers:,} answers, {args.cases:,} cases, {len(units())} units "
                f"in {time.perf_counter() - started:.0f} s",
                file=sys.stderr,
            )
        report(measured(str(path)), args.answers, args.cases, "SQLite")
        if args.no_postgresql:
            return
        try:
            result, server, copied = on_postgresql(path)
        except PostgreSQLUnavailable as missing:
            print(skipped(missing))
            return
    report(result, args.answers, args.cases, "PostgreSQL")
    print(f"  {server}; the city copied in {copied:.0f} s")


if __name__ == "__main__":
    main()
