"""End to end: the real `feedback-bot run` process against the local Telegram Bot API server,
driven as Telegram users would drive it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e_support import SCRIPT, BotMessage, BotProcess, TelegramEmulator, texts_of

pytestmark = pytest.mark.e2e


@pytest.fixture
def bot(tg: TelegramEmulator, tmp_path: Path) -> Iterator[BotProcess]:
    with BotProcess(tg, tmp_path) as running:
        yield running


def has_buttons(messages: list[BotMessage]) -> bool:
    return any(m.buttons for m in messages)


def button(messages: list[BotMessage], label: str) -> tuple[BotMessage, str]:
    for message in reversed(messages):
        for b in message.buttons:
            if b.text == label:
                assert b.callback_data is not None
                return message, b.callback_data
    raise AssertionError(f"no button {label!r} in {[m.text for m in messages]}")


async def tap(user, messages: list[BotMessage], label: str) -> list[BotMessage]:
    message, data = button(messages, label)
    await user.press(message, data)
    return await user.replies_until(lambda found: bool(found), timeout=15)


async def test_unsatisfied_survey_end_to_end(tg, bot, people):
    token = bot.add_dossier("HS-E2E-1")
    alice = people(bot, 1001)
    await alice.send_command(f"/start {token}")
    greeting = await alice.replies_until(has_buttons, timeout=15)
    assert "Đăng ký khai sinh" in texts_of(greeting) and "UBND Phường Bến Nghé" in texts_of(greeting)
    assert [b.text for b in greeting[-1].buttons] == ["Hài lòng", "Bình thường", "Không hài lòng"]

    follow_up = await tap(alice, greeting, "Không hài lòng")
    assert "Lý do khác" in [b.text for m in follow_up for b in m.buttons]
    invite_text = await tap(alice, follow_up, "Thái độ, hướng dẫn của cán bộ")
    assert [b.text for m in invite_text for b in m.buttons] == ["Bỏ qua"]
    await alice.send_text("Cán bộ một cửa không hướng dẫn, phải đi lại ba lần.")
    thanks = await alice.replies_until(bool, timeout=15)
    assert "Thủ trưởng UBND Phường Bến Nghé" in texts_of(thanks)

    answers = bot.cli("answers", "--format", "json")
    (row,) = json.loads(answers.stdout)
    assert row["dossier"] == "HS-E2E-1" and row["rating"] == "unsatisfied" and row["channel"] == "telegram"
    assert row["follow_ups"][0]["factor"] == "staff"
    assert row["text"] == "Cán bộ một cửa không hướng dẫn, phải đi lại ba lần."

    # the same link again: thanked, nothing changes
    await alice.send_command(f"/start {token}")
    again = await alice.replies_until(bool, timeout=15)
    assert "đã được đánh giá" in texts_of(again)
    assert len(json.loads(bot.cli("answers", "--format", "json").stdout)) == 1
    # the command menu was set at start
    assert "setMyCommands" in {c["method"] for c in await tg.other_calls(bot.token)}


async def test_satisfied_survey_end_to_end(tg, bot, people):
    token = bot.add_dossier("HS-E2E-2")
    bob = people(bot, 1002)
    await bob.send_command(f"/start {token}")
    greeting = await bob.replies_until(has_buttons, timeout=15)
    comment = await tap(bob, greeting, "Hài lòng")
    assert "góp ý" in texts_of(comment)
    thanks = await tap(bob, comment, "Bỏ qua")
    assert "Cảm ơn" in texts_of(thanks) and "Thủ trưởng" not in texts_of(thanks)
    assert bot.query("SELECT rating, completed_at IS NOT NULL FROM answers") == [("satisfied", 1)]


async def test_a_forged_link_is_refused(tg, bot, people):
    token = bot.add_dossier("HS-E2E-3")
    mallory = people(bot, 1003)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    await mallory.send_command(f"/start {forged}")
    reply = await mallory.replies_until(bool, timeout=15)
    assert "không hợp lệ" in texts_of(reply) and not has_buttons(reply)
    assert bot.query("SELECT COUNT(*) FROM surveys") == [(0,)]


async def test_a_survey_continues_after_kill_9(tg, tmp_path, people):
    bot = BotProcess(tg, tmp_path)
    bot.start()
    token = bot.add_dossier("HS-E2E-4")
    carol = people(bot, 1004)
    await carol.send_command(f"/start {token}")
    greeting = await carol.replies_until(has_buttons, timeout=15)
    follow_up = await tap(carol, greeting, "Không hài lòng")
    bot.kill()

    bot.start()
    try:
        text_question = await tap(carol, follow_up, "Kết quả trễ hẹn hoặc chưa đúng")  # a button from before
        assert [b.text for m in text_question for b in m.buttons] == ["Bỏ qua"]
        await carol.send_text("Trễ hẹn một tuần")
        thanks = await carol.replies_until(bool, timeout=15)
        assert "Thủ trưởng" in texts_of(thanks)
    finally:
        assert bot.stop() == 0  # SIGTERM: a clean stop
    assert bot.query("SELECT rating, follow_ups, texts FROM answers") == [
        (
            "unsatisfied",
            '[{"question_id":"problem","option_id":"result","factor":"result"}]',
            '{"complaint":"Trễ hẹn một tuần"}',
        )
    ]


async def test_return_recorded_later_sends_the_invitation_once(tg, bot, people):
    token = bot.add_dossier("HS-E2E-5", returned=False)
    dan = people(bot, 1005)
    await dan.send_command(f"/start {token}")
    waiting = await dan.replies_until(bool, timeout=15)
    assert "chưa có kết quả" in texts_of(waiting)

    done = bot.cli("dossier", "returned", "HS-E2E-5")  # another process, as the one-stop software would
    assert done.returncode == 0, done.stderr
    invitation = await dan.replies_until(has_buttons, timeout=30)
    assert "Đăng ký khai sinh" in texts_of(invitation)
    assert await dan.replies(timeout=2) == []  # once
    assert bot.query("SELECT status FROM invitations") == [("sent",)]
    thanks = await tap(dan, await tap(dan, invitation, "Hài lòng"), "Bỏ qua")
    assert "Cảm ơn" in texts_of(thanks)


async def test_a_chat_that_blocked_the_bot_is_marked_and_not_retried(tg, bot, people):
    token = bot.add_dossier("HS-E2E-6", returned=False)
    erin = people(bot, 1006)
    await erin.send_command(f"/start {token}")
    await erin.replies_until(bool, timeout=15)
    await tg.block(bot.token, 1006)
    assert bot.cli("dossier", "returned", "HS-E2E-6").returncode == 0

    for _ in range(60):
        if bot.query("SELECT status FROM invitations") == [("unreachable",)]:
            break
        await erin.replies(timeout=0.5)
    assert bot.query("SELECT status FROM invitations") == [("unreachable",)]
    assert bot.query("SELECT unreachable_since IS NOT NULL FROM chats WHERE chat_id = '1006'") == [(1,)]

    # the bot is still serving others
    frank = people(bot, 1007)
    await frank.send_command("/help")
    assert "/language" in texts_of(await frank.replies_until(bool, timeout=15))


async def test_flood_control_is_waited_out_and_the_reply_still_arrives(tg, bot, people):
    token = bot.add_dossier("HS-E2E-7")
    gina = people(bot, 1008)
    await tg.flood(bot.token, count=2, retry_after=1)
    await gina.send_command(f"/start {token}")
    greeting = await gina.replies_until(has_buttons, timeout=20)
    assert [b.text for b in greeting[-1].buttons] == ["Hài lòng", "Bình thường", "Không hài lòng"]
    assert bot.logged("flood control in chat 1008")


async def test_language_switch_end_to_end(tg, bot, people):
    henry = people(bot, 1009)
    await henry.send_command("/language")
    menu = await henry.replies_until(has_buttons, timeout=15)
    switched = await tap(henry, menu, "English")
    assert "Language set to English." in texts_of(switched)
    await henry.send_text("hello")
    assert "scan the QR code" in texts_of(await henry.replies_until(bool, timeout=15))


async def test_many_citizens_at_once_never_mix(tg, bot, people):
    import asyncio

    citizens = [(people(bot, 1100 + n), bot.add_dossier(f"HS-E2E-M{n}"), n) for n in range(6)]

    async def answer(user, token: str, n: int) -> None:
        await user.send_command(f"/start {token}")
        greeting = await user.replies_until(has_buttons, timeout=20)
        comment_or_problem = await tap(user, greeting, ["Hài lòng", "Không hài lòng"][n % 2])
        if n % 2:
            comment_or_problem = await tap(user, comment_or_problem, "Lý do khác")
        await user.send_text(f"Ý kiến của người số {n}")
        assert "Cảm ơn" in texts_of(await user.replies_until(bool, timeout=20))

    await asyncio.gather(*(answer(*c) for c in citizens))
    rows = bot.query(
        "SELECT d.code, a.chat_id, a.rating, a.texts FROM answers a JOIN dossiers d ON d.id = a.dossier_id"
    )
    expected = []
    for n in range(6):
        rating, question = ("satisfied", "comment") if n % 2 == 0 else ("unsatisfied", "complaint")
        texts = json.dumps({question: f"Ý kiến của người số {n}"}, ensure_ascii=False, separators=(",", ":"))
        expected.append((f"HS-E2E-M{n}", str(1100 + n), rating, texts))
    assert sorted(rows) == sorted(expected)


def test_a_second_run_on_one_sqlite_database_refuses_or_stands_by(tg, tmp_path):
    with BotProcess(tg, tmp_path) as first:
        second = first.cli("run")
        assert second.returncode == 1
        assert "is served by feedback-bot run (pid" in second.stderr and "--standby" in second.stderr
        waiting = subprocess.Popen(
            [str(SCRIPT), "--config", str(first.config_path), "run", "--standby"],
            env=first.env, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert waiting.stderr is not None
        seen = [next(line for line in waiting.stderr if "standby:" in line)]
        first.stop()
        seen.append(next(line for line in waiting.stderr if "feedback bot running" in line))
    waiting.terminate()
    assert waiting.wait(20) == 0
    waiting.stderr.close()
    assert "is served by feedback-bot run (pid" in seen[0]
