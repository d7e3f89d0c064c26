"""Intake throughput: 20,000 dossiers PUT one by one through the real HTTP server (`feedback-bot
api`, a separate process) by 32 concurrent clients, and the same count through the batch endpoint
(1,000 a request). In the same run, the floor: the same dossiers through the storage call alone
(`put_dossiers`, single and in batches of 1,000, with the same concurrency) in this process.
Prints requests (or dossiers) a second, p50/p99 latency, and each HTTP figure as a share of its
floor.

    .venv/bin/python bench/intake.py [--dossiers 20000] [--concurrency 32] [--batch 1000]

Goals on a 2-core machine: ≥ 1,000 single PUTs a second; ≥ 20,000 dossiers a second in batches.
The client runs in this process beside the server on the same cores, so the HTTP figures include
the client's own cost (aiohttp, kept-alive connections).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from handlers.links import new_survey_code
from storage.records import DossierFacts, NewDossier, Unit
from storage.sqlite import SQLiteStorage

SCRIPT = Path(sys.executable).parent / "feedback-bot"
UNITS = [
    {"code": "HCM", "name": "TP. Hồ Chí Minh", "children": [
        {"code": f"Q{d:02}", "name": f"UBND Quận {d}", "children": [
            {"code": f"Q{d:02}-P{w:02}", "name": f"UBND Phường {w}"} for w in range(10)
        ]} for d in range(24)
    ]}
]  # fmt: skip
WARDS = [f"Q{d:02}-P{w:02}" for d in range(24) for w in range(10)]


def body(n: int) -> dict[str, str]:
    return {
        "unit": WARDS[n % len(WARDS)],
        "procedure": "Đăng ký khai sinh",
        "received_at": "20261120083000",
        "due_at": "20261127170000",
        "citizen_name": "Nguyễn Thị Lan",
        "phone": f"09{n % 100_000_000:08}",
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def timed(jobs: list[Callable[[], Awaitable[None]]], concurrency: int) -> tuple[float, list[float]]:
    """Runs the jobs, `concurrency` at a time; the wall time and each job's latency."""
    latencies: list[float] = []
    queue = iter(jobs)

    async def worker() -> None:
        for job in queue:
            started = time.perf_counter()
            await job()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


def report(label: str, count: int, seconds: float, latencies: list[float], unit: str) -> float:
    rate = count / seconds
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    print(f"  {label:<34} {rate:>9,.0f} {unit}/s   p50 {p50:7.2f} ms   p99 {p99:7.2f} ms")
    return rate


async def floor(folder: Path, count: int, concurrency: int, batch: int) -> tuple[float, float]:
    store = SQLiteStorage(folder / "floor.db")
    await store.open()
    units = [Unit(code="HCM", name="TP. Hồ Chí Minh")]
    units += [Unit(code=f"Q{d:02}", name=f"UBND Quận {d}", parent_code="HCM") for d in range(24)]
    units += [Unit(code=w, name=w, parent_code=w[:3]) for w in WARDS]
    await store.directory.apply_directory(
        units=units, people=[], retired=(), moves={}, now=datetime.now(UTC), actor="bench", summary=""
    )

    def facts(prefix: str, n: int) -> tuple[DossierFacts, NewDossier]:
        fields = body(n)
        return (
            DossierFacts(
                code=f"{prefix}-{n}", unit_code=fields["unit"], procedure=fields["procedure"],
                received_at=datetime(2026, 11, 20, 1, 30, tzinfo=UTC),
                due_at=datetime(2026, 11, 27, 10, 0, tzinfo=UTC), citizen_name=fields["citizen_name"],
                phone="84" + fields["phone"][1:],
            ),
            NewDossier(link_id=os.urandom(12).hex(), survey_code=new_survey_code()),
        )  # fmt: skip

    def single(n: int) -> Callable[[], Awaitable[None]]:
        async def put() -> None:
            await store.dossiers.put_dossiers([facts("S", n)], actor="api:bench", now=datetime.now(UTC))

        return put

    def batched(start: int) -> Callable[[], Awaitable[None]]:
        async def put() -> None:
            items = [facts("B", n) for n in range(start, min(start + batch, count))]
            await store.dossiers.put_dossiers(items, actor="api:bench", now=datetime.now(UTC))

        return put

    print("storage call alone (the floor):")
    seconds, latencies = await timed([single(n) for n in range(count)], concurrency)
    single_rate = report("put_dossiers, one dossier", count, seconds, latencies, "dossiers")
    seconds, latencies = await timed([batched(s) for s in range(0, count, batch)], 1)
    batch_rate = report(f"put_dossiers, {batch} a call", count, seconds, latencies, "dossiers")
    await store.close()
    return single_rate, batch_rate


async def over_http(url: str, key: str, count: int, concurrency: int, batch: int) -> tuple[float, float]:
    headers = {"Authorization": f"Bearer {key}"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(url, headers=headers, connector=connector) as http:

        def single(n: int) -> Callable[[], Awaitable[None]]:
            async def put() -> None:
                async with http.put(f"/api/v1/dossiers/S-{n}", json=body(n)) as response:
                    if response.status != 201:
                        raise RuntimeError(f"PUT answered {response.status}: {await response.text()}")
                    await response.read()

            return put

        def batched(start: int) -> Callable[[], Awaitable[None]]:
            items = [{"code": f"B-{n}", **body(n)} for n in range(start, min(start + batch, count))]

            async def put() -> None:
                async with http.post("/api/v1/dossiers:batch", json={"dossiers": items}) as response:
                    if response.status != 200:
                        raise RuntimeError(f"batch answered {response.status}: {await response.text()}")
                    await response.read()

            return put

        print(f"through the HTTP server ({concurrency} concurrent clients):")
        seconds, latencies = await timed([single(n) for n in range(count)], concurrency)
        single_rate = report("PUT /api/v1/dossiers/{code}", count, seconds, latencies, "requests")
        seconds, latencies = await timed([batched(s) for s in range(0, count, batch)], 2)
        batch_rate = report(f"POST /api/v1/dossiers:batch ({batch})", count, seconds, latencies, "dossiers")
    return single_rate, batch_rate


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dossiers", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as name:
        folder = Path(name)
        port = free_port()
        config = folder / "config.yaml"
        config.write_text(
            yaml.safe_dump({
                "database": str(folder / "intake.db"), "secret": "bench-secret", "units": UNITS,
                "api": {"listen": "127.0.0.1", "port": port, "rate_per_second": 1_000_000,
                        "burst": 1_000_000},
            }, allow_unicode=True),
            encoding="utf-8",
        )  # fmt: skip
        run = [str(SCRIPT), "--config", str(config)]
        made = subprocess.run([*run, "apikey", "create", "--name", "bench", "--units", "HCM"],
                              capture_output=True, text=True, check=True)  # fmt: skip
        key = made.stdout.strip()
        server = subprocess.Popen([*run, "api"], stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("the API server did not start") from None
                    time.sleep(0.1)
            print(f"{args.dossiers:,} dossiers; {os.cpu_count()} cores")
            http_single, http_batch = asyncio.run(
                over_http(url, key, args.dossiers, args.concurrency, args.batch)
            )
        finally:
            server.terminate()
            server.wait(20)
        floor_single, floor_batch = asyncio.run(floor(folder, args.dossiers, args.concurrency, args.batch))
    print("ratios (HTTP / storage call alone):")
    print(f"  single PUT   {http_single / floor_single:6.2f}   (goal: ≥ 1,000 requests/s: "
          f"{'met' if http_single >= 1000 else 'NOT met'})")  # fmt: skip
    print(f"  batch        {http_batch / floor_batch:6.2f}   (goal: ≥ 20,000 dossiers/s: "
          f"{'met' if http_batch >= 20_000 else 'NOT met'})")  # fmt: skip


if __name__ == "__main__":
    main()
