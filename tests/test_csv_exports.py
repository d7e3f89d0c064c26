"""Every CSV the command line writes is safe to open in a spreadsheet: a cell that a spreadsheet
would run as a formula (starting with = + - @, a tab or a carriage return) starts with an apostrophe,
whoever typed it: a citizen's complaint, a procedure's name from the one-stop software, a head's or
an admin's name in the config. The commands are found from the parser, so a listing added later
(with --format) is checked too."""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.app import build_dispatcher, opened_storage
from bot.cli.output import BOM, FORMULA_STARTS, Column, neutralised, render
from bot.cli.parser import build_parser
from bot.config import load_config
from tests.cli_support import run, write_config
from tests.conftest import Citizen
from tests.test_cli import add
from tests.test_question_sets import WARD_SET

HOSTILE = ['=HYPERLINK("http://x.vn","bấm")', "+1", "-2", "@SUM(1)", "\t=1+1", "\r=1+1"]
UNITS = [
    {"code": "Q1", "name": "=1+1", "head": {"name": "@SUM(1)", "telegram": 2001},
     "children": [{"code": "-Q1", "name": "+UBND", "head": {"name": "-Lê Văn C", "telegram": 2101}}]},
]  # fmt: skip
ADMINS = [{"name": '=HYPERLINK("http://x.vn")', "telegram": 9001}]


def csv_commands() -> Iterator[tuple[str, ...]]:
    """Every command that takes --format, as the words that run it."""

    def leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
        groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        listing = not groups or parser.get_default("handler")  # `answers` lists, `answers import` imports
        if listing and any("--format" in a.option_strings for a in parser._actions):
            yield path
        for group in groups:
            for name, child in group.choices.items():
                yield from leaves(child, (*path, name))

    return leaves(build_parser())


@pytest.fixture
def hostile_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> Path:
    """A database whose every text a person typed starts like a formula."""
    for variable in ("TELEGRAM_BOT_TOKEN", "ZALO_BOT_TOKEN", "FEEDBACK_BOT_SECRET", "FEEDBACK_BOT_CONFIG"):
        monkeypatch.delenv(variable, raising=False)
    path = tmp_path / "config.yaml"
    write_config(path, units=UNITS, admins=ADMINS)
    tokens = []
    for n, text in enumerate(HOSTILE):
        code = f"HS-{n}"
        procedure = text if text.isprintable() else f"Thủ tục {n}"  # a name is one line of visible text
        assert run(path, "dossier", "add", code, "--unit=-Q1", f"--procedure={procedure}",
                   "--returned", "2020-03-02T09:30") == 0  # fmt: skip
        tokens.append(capsys.readouterr().out.splitlines()[-2].split("start=", 1)[1])
    assert add(path, "HS-X", unit="Q1") == 0
    config = load_config(path)

    async def answer() -> None:
        async with opened_storage(config) as store:
            dispatcher = build_dispatcher(config, store)
            for n, (text, token) in enumerate(zip(HOSTILE, tokens, strict=True)):
                citizen = Citizen(dispatcher, chat_id=str(1000 + n))
                citizen.now = datetime(2020, 3, 2, 5, 0, tzinfo=UTC)
                await citizen.command("start", token)
                await citizen.press("Không hài lòng")
                await citizen.press("Lý do khác")
                await citizen.say(text)
            admin = Citizen(dispatcher, chat_id="9001")
            scoped = WARD_SET.replace("units: [Q1-BN]", "units: [-Q1]\n  procedures: ['=1+1', '@x']")
            await admin.send_document("ward.yaml", scoped.encode())

    asyncio.run(answer())
    capsys.readouterr()
    return path


def test_every_csv_listing_neutralises_formulas(hostile_config, capsys):
    commands = list(csv_commands())
    assert {("answers",), ("audit",), ("dossier", "list"), ("cases", "list"), ("questions", "list")} <= set(
        commands
    )
    cells: dict[tuple[str, ...], list[str]] = {}
    for command in commands:
        assert run(hostile_config, *command, "--format", "csv") == 0, command
        out = capsys.readouterr().out
        assert out.startswith(BOM)
        rows = list(csv.reader(io.StringIO(out.removeprefix(BOM), newline="")))
        cells[command] = [cell for row in rows[1:] for cell in row]
        runnable = [cell for cell in cells[command] if cell.startswith(FORMULA_STARTS)]
        assert runnable == [], (command, runnable)

    shown = {cell for found in cells.values() for cell in found}
    for text in HOSTILE:  # each reached a CSV (leading blanks are trimmed where it is typed), made safe
        assert "'" + text in shown or "'" + text.strip() in shown, text
    assert "'=1+1" in cells[("questions", "list")] or any(
        c.startswith("'-Q1") for c in cells[("questions", "list")]
    )
    assert any(c.startswith('\'=HYPERLINK("http://x.vn") (admin)') for c in cells[("audit",)])
    assert "'-Q1" in cells[("dossier", "list")] and "'-Q1" in cells[("cases", "list")]


@given(st.lists(st.text(), min_size=1, max_size=4))
def test_a_csv_cell_is_the_text_or_the_text_behind_an_apostrophe(values):
    columns = [Column(f"c{n}") for n in range(len(values))]
    out = render([{f"c{n}": v for n, v in enumerate(values)}], columns, "csv", empty=None)
    (row,) = list(csv.reader(io.StringIO(out.removeprefix(BOM), newline="")))[1:]
    for typed, cell in zip(values, row, strict=True):
        assert not cell.startswith(FORMULA_STARTS)
        assert cell == typed or cell == "'" + typed
        assert neutralised(cell) == cell  # already safe: never neutralised twice
