"""The benchmarks stay runnable: each imports what it measures and answers --help (a benchmark that
no longer imports after a refactoring is found here, not when someone needs its figures)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


# A module named with a leading underscore is shared by benchmarks, not one itself.
@pytest.mark.parametrize("script", sorted(p.name for p in BENCH.glob("*.py") if not p.name.startswith("_")))
def test_a_benchmark_imports_and_explains_itself(script: str):
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout
