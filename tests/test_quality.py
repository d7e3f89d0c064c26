"""The architecture and conventions, checked on every test run: import layers, lint, types."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[dev]'")
    return found


def check(*command: str) -> None:
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_import_layers_bot_handlers_storage():
    check(tool("lint-imports"), "--no-cache")


def test_ruff_lint_and_format():
    check(tool("ruff"), "check", ".")
    check(tool("ruff"), "format", "--check", ".")


def test_mypy_strict():
    check(tool("mypy"))
