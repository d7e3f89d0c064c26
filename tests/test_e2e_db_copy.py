"""End to end: a unit moves from SQLite to PostgreSQL in the middle of a citizen's survey. The real
`feedback-bot run` on SQLite against the Telegram emulator; the citizen taps a rating; the bot is
stopped; `feedback-bot db copy`; the bot starts on the copy; the citizen answers the follow-up
question on a button sent before the move, and is thanked. One answer, holding both."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
import yaml

from tests.e2e_support import BotMessage, BotProcess, TelegramEmulator, texts_of

pytestmark = pytest.mark.e2e


def has_buttons(messages: list[BotMessage]) -> bool:
    return any(m.buttons for m in messages)


async def tap(user, messages: list[BotMessage], label: str) -> list[BotMessage]:
    for message in reversed(messages):
        for b in message.buttons:
            if b.text == label:
                await user.press(message, b.callback_data)
                return await user.replies_until(bool, timeout=15)
    raise AssertionError(f"no button {label!r} in {[m.text for m in messages]}")


async def test_a_survey_goes_on_after_the_unit_moves_to_postgresql(
    tg: TelegramEmulator, tmp_path: Path, people, postgresql_url: str
):
    bot = BotProcess(tg, tmp_path)
    bot.start()
    try:
        token = bot.add_dossier("HS-MOVE-1")
        citizen = people(bot, 1101)
        await citizen.send_command(f"/start {token}")
        greeting = await citizen.replies_until(has_buttons, timeout=15)
        follow_up = await tap(citizen, greeting, "Không hài lòng")
        assert "Lý do khác" in [b.text for m in follow_up for b in m.buttons]
    finally:
        assert bot.stop() == 0

    copied = bot.cli("db", "copy", "--from", f"sqlite:{tmp_path / 'feedback.db'}", "--to", postgresql_url)
    assert copied.returncode == 0, copied.stderr
    assert "every table checked" in copied.stdout and " NO" not in copied.stdout

    config = yaml.safe_load(bot.config_path.read_text(encoding="utf-8"))
    bot.config_path.write_text(
        yaml.safe_dump({**config, "database": postgresql_url}, allow_unicode=True), encoding="utf-8"
    )
    status = bot.cli("db", "status")
    assert status.returncode == 0 and "backend: PostgreSQL" in status.stdout, status.stdout + status.stderr

    bot.start()
    try:
        # A button of the question asked before the move, answered on the copy.
        text_question = await tap(citizen, follow_up, "Kết quả trễ hẹn hoặc chưa đúng")
        assert [b.text for m in text_question for b in m.buttons] == ["Bỏ qua"]
        await citizen.send_text("Trễ hẹn một tuần")
        thanks = await citizen.replies_until(bool, timeout=15)
        assert "Thủ trưởng" in texts_of(thanks)
    finally:
        assert bot.stop() == 0

    with psycopg.connect(postgresql_url) as pg:
        rows = pg.execute(
            "SELECT a.rating, a.follow_ups, a.texts, a.completed_at IS NOT NULL FROM answers a"
            " JOIN dossiers d ON d.id = a.dossier_id WHERE d.code = 'HS-MOVE-1'"
        ).fetchall()
    # JSON compared as values: each backend writes it with its own spacing and key order.
    assert [(r[0], json.loads(r[1]), json.loads(r[2]), r[3]) for r in rows] == [
        (
            "unsatisfied",
            [{"question_id": "problem", "option_id": "result", "factor": "result"}],
            {"complaint": "Trễ hẹn một tuần"},
            True,
        )
    ]
    # The SQLite file kept the rating alone: the rest was written on PostgreSQL only.
    assert bot.query("SELECT rating, follow_ups FROM answers") == [("unsatisfied", "[]")]
    listed = json.loads(bot.cli("answers", "--format", "json").stdout)
    assert [(r["dossier"], r["rating"]) for r in listed] == [("HS-MOVE-1", "unsatisfied")]
