"""Report scale: the city (371 units in a 3-level tree) with 1,000,000 answers over a year, a tenth
of them imported from paper and phone (no dossier), a fifth of the rest naming a SIPAS factor,
50,000 complaint cases with their history, and every answered dossier returned with a due day; then,
through the real storage and handlers code, the year's report by unit, by factor and by month, and
the workbook (all five groupings) and the PNG chart. In the same run, two floors: a plain COUNT(*)
over the answers, and one plain SQL GROUP BY (the year's answers by unit and rating). Prints each
time, its ratio to the GROUP BY floor, and the peak memory of the process that measures them.

    .venv/bin/python bench/report_scale.py [--answers 1000000] [--cases 50000] [--keep DB]

The database is built once into a temporary folder (a minute or two); the measuring runs in a fresh
process, so its peak memory is the report work's own.
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

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
FIRST, LAST = date(2025, 11, 1), date(2026, 10, 31)  # a year of full months
YEAR_START = datetime(2025, 10, 31, 17, tzinfo=UTC)  # 1 November 2025, 00:00 in Hồ Chí Minh City
SECONDS = 365 * 24 * 3600
PROCEDURES = [f"Thủ tục số {n}" for n in range(60)]
FACTORS = ("access", "procedure", "staff", "result", "feedback")
RATINGS = ("satisfied", "neutral", "unsatisfied")
WEIGHTS = (0.5087, 0.4324, 0.0589)  # the 2016 survey's shares


def build(path: Path, answers: int, cases: int) -> None:
    random.seed(2016)
    db = new_database(path)
    codes = [code for code, _, _ in units() if code != "HCM"]
    imported = answers // 10
    dossiers: list[tuple[object, ...]] = []
    rows: list[tuple[object, ...]] = []
    # Rows are stored in the order of time, as they are in use: a dossier is recorded when received
    # and answered when returned, so ids grow with time (not strictly: see the due days below).
    seconds = sorted(random.randrange(SECONDS) for _ in range(answers))
    for n in range(1, answers + 1):
        moment = YEAR_START + timedelta(seconds=seconds[n - 1])
        at = moment.isoformat()
        unit, procedure = random.choice(codes), random.choice(PROCEDURES)
        rating = random.choices(RATINGS, WEIGHTS)[0]
        follow_ups = "[]"
        if rating != "satisfied" and random.random() < 0.4:
            factor = random.choice(FACTORS)
            follow_ups = json.dumps([{"question_id": "problem", "option_id": factor, "factor": factor}])
        if n <= imported:
            channel = random.choice(("paper", "phone", "kiosk"))
            rows.append((None, channel, "", "(imported)", rating, follow_ups, at, unit, procedure, f"k{n}"))
        else:
            due = (moment - timedelta(days=random.choice((-2, -1, 0, 0, 0, 1)))).astimezone(ZONE).date()
            dossiers.append((n, f"HS-{n:07}", unit, procedure, f"L{n:015}", due.isoformat(), at, at))
            rows.append((n, "telegram", str(n), "default", rating, follow_ups, at, None, None, None))
        if len(rows) == 50_000:
            _flush(db, dossiers, rows)
    _flush(db, dossiers, rows)
    found = db.execute(
        "SELECT a.dossier_id, d.unit_code, a.answered_at FROM answers a"
        " JOIN dossiers d ON d.id = a.dossier_id ORDER BY a.rating = 'unsatisfied' DESC, a.id LIMIT ?",
        (cases,),
    ).fetchall()
    case_rows: list[tuple[object, ...]] = []
    events: list[tuple[object, ...]] = []
    for case_id, (dossier, unit, at) in enumerate(found, 1):
        opened = datetime.fromisoformat(at)
        deadline = (opened + timedelta(days=5)).astimezone(ZONE).date().isoformat()
        case_rows.append((case_id, dossier, unit, "closed", at, deadline, at))
        events.append((case_id, at, "citizen", "opened"))
        if random.random() < 0.9:
            resolved = opened + timedelta(hours=random.randint(2, 200))
            events.append((case_id, resolved.isoformat(), "person:1", "resolved"))
            if random.random() < 0.05:
                events.append((case_id, (resolved + timedelta(hours=3)).isoformat(), "citizen", "reopened"))
    db.executemany(
        "INSERT INTO cases (id, dossier_id, unit_code, state, opened_at, deadline, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        case_rows,
    )
    db.executemany("INSERT INTO case_events (case_id, at, actor, action) VALUES (?, ?, ?, ?)", events)
    db.commit()
    db.execute("ANALYZE")
    db.close()


def _flush(
    db: sqlite3.Connection, dossiers: list[tuple[object, ...]], rows: list[tuple[object, ...]]
) -> None:
    db.executemany(
        "INSERT INTO dossiers (id, code, unit_code, procedure, link_id, due_on, returned_at, created_at,"
        " state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'returned')",
        dossiers,
    )
    db.executemany(
        "INSERT INTO answers (dossier_id, channel, chat_id, question_set, question_set_version, rating,"
        " rating_option, follow_ups, answered_at, completed_at, unit_code, procedure, import_key)"
        " VALUES (?1, ?2, ?3, ?4, 1, ?5, ?5, ?6, ?7, ?7, ?8, ?9, ?10)",
        rows,
    )
    dossiers.clear()
    rows.clear()


async def measure(path: Path, folder: Path) -> dict[str, float]:
    """In this process: the two floors, then the year's reports and files."""
    from bot.report_files import draw_png, write_xlsx
    from handlers.reports import GROUPINGS, ReportSettings, build_report, whole_period
    from storage.sqlite import SQLiteStorage

    span = whole_period(FIRST, LAST, ZONE)[0]
    with sqlite3.connect(path) as raw:
        started = time.perf_counter()
        raw.execute("SELECT COUNT(*) FROM answers").fetchall()
        count = time.perf_counter() - started
        started = time.perf_counter()
        raw.execute(
            "SELECT a.unit_code, a.rating, COUNT(*) FROM answers a"
            " WHERE a.answered_at >= ? AND a.answered_at < ? GROUP BY 1, 2",
            (span.start.isoformat(), span.end.isoformat()),
        ).fetchall()
        floor = time.perf_counter() - started

    store = SQLiteStorage(path)
    await store.open()
    settings = ReportSettings(zone=ZONE)
    all_units = await store.directory.list_units(retired=True)
    now = datetime(2026, 11, 27, 3, tzinfo=UTC)
    figures: dict[str, float] = {"count": count, "floor": floor}
    reports = {}
    for by in GROUPINGS:
        started = time.perf_counter()
        reports[by] = await build_report(
            store.reports, all_units, settings, first=FIRST, last=LAST, by=by, unit_code=None,
            now=now,
        )  # fmt: skip
        figures[by] = time.perf_counter() - started
    await store.close()
    started = time.perf_counter()
    ordered = [reports[by] for by in GROUPINGS]
    write_xlsx(ordered, folder / "report.xlsx", settings.min_answers, "vi")
    figures["xlsx"] = time.perf_counter() - started
    for by in ("unit", "month", "factor"):
        started = time.perf_counter()
        (folder / f"{by}.png").write_bytes(draw_png(reports[by], "vi"))
        figures[f"png_{by}"] = time.perf_counter() - started
    total = reports["unit"].total
    figures |= {
        "answers": total.ratings.answers,
        "rows": len(reports["unit"].rows),
        "complaints": total.complaints.opened,
        "satisfied_or_neutral": total.satisfied_or_neutral or 0.0,
        "peak_mb": peak_mb(),
    }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers", type=int, default=1_000_000)
    parser.add_argument("--cases", type=int, default=50_000)
    parser.add_argument("--keep", type=Path, help="build the database here and keep it")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(asyncio.run(measure(args.measure, args.measure.parent))))
        return
    with tempfile.TemporaryDirectory(prefix="report-bench-") as folder:
        path = args.keep or Path(folder) / "city.db"
        if not path.exists():
            started = time.perf_counter()
            build(path, args.answers, args.cases)
            print(f"built {path.name} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        child = subprocess.run(
            [sys.executable, __file__, "--measure", str(path)], capture_output=True, text=True, check=True
        )
        r = json.loads(child.stdout)
    print(
        f"{len(units())} units, {args.answers:,} answers over a year ({args.answers // 10:,} imported), "
        f"{r['complaints']:,.0f} complaints; the year: {r['answers']:,.0f} answers,"
        f" {r['satisfied_or_neutral']:.2f}% satisfied or neutral"
    )
    print(f"  plain COUNT(*) over the answers                      {r['count'] * 1000:8.1f} ms")
    print(f"  floor: one SQL GROUP BY (the year by unit and rating) {r['floor'] * 1000:8.1f} ms")
    for name, what in (
        ("unit", f"the year's report by unit ({r['rows']:.0f} rows)"), ("factor", "by factor"),
        ("month", "by month"), ("procedure", "by procedure"), ("channel", "by channel"),
        ("xlsx", "the workbook, five sheets with charts"), ("png_unit", "PNG by unit"),
        ("png_month", "PNG by month"), ("png_factor", "PNG by factor"),
    ):  # fmt: skip
        print(f"  {what:<52} {r[name] * 1000:8.1f} ms  ratio {r[name] / r['floor']:5.2f}")
    print(f"  peak memory of the measuring process                 {r['peak_mb']:8.1f} MB")


if __name__ == "__main__":
    main()
