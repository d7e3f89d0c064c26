"""One running bot per SQLite database: a second claim is refused, naming the first, and a claim
ends when its process does, even killed with -9. SQLite-only by nature (PostgreSQL serves several)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from storage.base import AlreadyServing
from storage.sqlite import SQLiteStorage


async def test_a_second_claim_on_one_database_is_refused_until_the_first_closes(tmp_path: Path):
    first, second = SQLiteStorage(tmp_path / "f.db"), SQLiteStorage(tmp_path / "f.db")
    await first.open()
    await second.open()
    await first.claim_serving()
    with pytest.raises(AlreadyServing, match=f"pid {os.getpid()}"):
        await second.claim_serving()
    await first.close()
    await second.claim_serving()  # the first let go
    await second.close()


REPO = Path(__file__).resolve().parents[2]


def hold_in_another_process(path: Path) -> subprocess.Popen[str]:
    """A process that claims the database and keeps it, once it says so."""
    script = (
        "import asyncio\n"
        "from storage.sqlite import SQLiteStorage\n"
        f"store = SQLiteStorage({str(path)!r})\n"
        "async def hold():\n"
        "    await store.open(); await store.claim_serving(); print('held', flush=True)\n"
        "    await asyncio.sleep(60)\n"
        "asyncio.run(hold())\n"
    )
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=REPO)


async def test_a_claim_ends_with_its_process_even_killed(tmp_path: Path):
    path = tmp_path / "k.db"
    holder = hold_in_another_process(path)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    store = SQLiteStorage(path)
    await store.open()
    with pytest.raises(AlreadyServing, match=f"pid {holder.pid}"):
        await store.claim_serving()
    holder.send_signal(signal.SIGKILL)
    holder.wait(10)
    holder.stdout.close()
    await store.claim_serving()
    await store.close()
