"""`feedback-bot outbox`: invitations and notices pending, retrying (attempts, next attempt, last
error) and given up, digests not sent and answers that never got through; never a citizen's chat id."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from bot.app import opened_storage
from bot.cli import main
from bot.config import load_config
from storage.records import CaseState, DigestStatus, NoticeTo, OutboxStatus, Rating
from tests.conftest import ADMINS, UNITS

CITIZEN_CHATS = ("987650001", "987650002", "987650003", "987650004")


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for variable in ("TELEGRAM_BOT_TOKEN", "ZALO_BOT_TOKEN", "FEEDBACK_BOT_SECRET", "FEEDBACK_BOT_CONFIG"):
        monkeypatch.delenv(variable, raising=False)
    path = tmp_path / "config.yaml"
    data = {"database": "db/feedback.db", "secret": "s", "units": UNITS, "admins": ADMINS}
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


async def undelivered(config_file: Path) -> None:
    """One of each: invitations pending, retrying and given up; notices to a staff member (refused)
    and a citizen (pending); today's digest retrying, yesterday's that reached nobody; a lost reply."""
    now = datetime.now(UTC)
    async with opened_storage(load_config(config_file)) as store:
        for n, chat in enumerate(CITIZEN_CHATS[:3]):
            dossier = await store.dossiers.add_dossier(
                code=f"HS-{n}", unit_code="Q1-BN", procedure="Khai sinh", link_id=f"L{n}", now=now
            )
            await store.dossiers.link_chat(dossier.id, "telegram", chat, now)
            await store.dossiers.mark_returned(dossier.code, now)
        _, retrying, blocked = await store.outbox.pending_invitations()
        await store.outbox.retry_invitation(
            retrying.id, "telegram did not accept it", now + timedelta(minutes=5)
        )
        await store.outbox.retry_invitation(
            retrying.id, "telegram did not accept it", now + timedelta(minutes=5)
        )
        await store.outbox.finish_invitation(
            blocked.id, OutboxStatus.UNREACHABLE, now, "chat blocked the bot"
        )
        dossier = await store.dossiers.add_dossier(
            code="HS-C", unit_code="Q1-BN", procedure="Khai sinh", link_id="LC", now=now, returned_at=now
        )
        survey = await store.surveys.start_survey(
            channel="zalo", chat_id=CITIZEN_CHATS[3], dossier_id=dossier.id, question_set="default",
            question_set_version=1, first_step="rating", now=now,
        )  # fmt: skip
        await store.surveys.record_rating(
            survey, rating=Rating.UNSATISFIED, option_id="u", next_step=None, now=now,
            case_deadline=now.date() + timedelta(days=3),
        )  # fmt: skip
        (case,) = await store.cases.list_cases(["Q1-BN"])
        (staff, *_) = [p for p in await store.directory.unit_people("Q1-BN") if p.role.value == "staff"]
        await store.cases.change_case(
            case.id, from_states=[CaseState.NEW], to_state=CaseState.ASSIGNED, actor="test",
            action="assigned", now=now, assignee_id=staff.id, notices=[
                NoticeTo(kind="to_staff", channel="telegram", chat_id="2102", person_id=staff.id),
                NoticeTo(kind="assigned", channel="zalo", chat_id=CITIZEN_CHATS[3]),
            ],
        )  # fmt: skip
        to_staff, _ = await store.outbox.pending_notices()
        await store.outbox.finish_notice(
            to_staff.id, OutboxStatus.FAILED, now, "the platform refused the message"
        )
        zone = load_config(config_file).zone
        today = now.astimezone(zone).date()
        await store.digests.claim_digest("Q1-BN", today, now, lease=timedelta(minutes=10))
        await store.digests.retry_digest("Q1-BN", today, "telegram did not accept every message", now)
        yesterday = today - timedelta(days=1)
        await store.digests.claim_digest(
            "Q1", yesterday, now - timedelta(days=1), lease=timedelta(minutes=10)
        )
        await store.digests.finish_digest("Q1", yesterday, DigestStatus.UNREACHABLE, now - timedelta(days=1))
        await store.outbox.record_undelivered_reply("telegram", CITIZEN_CHATS[0], now, "flood control: 900 s")


def listing(config_file: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[list[dict], str, str]:
    assert main(["--config", str(config_file), "outbox", "--format", "json", *args]) == 0
    out, err = capsys.readouterr()
    return json.loads(out), out, err


def test_the_outbox_lists_what_was_not_delivered(config_file, capsys):
    asyncio.run(undelivered(config_file))
    rows, out, err = listing(config_file, capsys)
    assert [
        (r["kind"], r["about"].split(":")[-1].strip(), r["state"]) for r in rows if r["kind"] != "digest"
    ] == [
        ("invitation", "dossier HS-0", "pending"),
        ("invitation", "dossier HS-1", "retrying"),
        ("invitation", "dossier HS-2", "failed"),
        ("notice", "to_staff", "failed"),
        ("notice", "assigned", "pending"),
        ("reply", "an answer to what the person sent", "failed"),
    ]
    # by day: yesterday's, that reached nobody, then today's, retrying
    assert [(r["to"], r["state"]) for r in rows if r["kind"] == "digest"] == [
        ("head of Q1", "failed"),
        ("head of Q1-BN", "retrying"),
    ]
    retrying = next(r for r in rows if r["about"] == "dossier HS-1")
    assert (retrying["attempts"], retrying["last_error"]) == (2, "telegram did not accept it")
    assert retrying["next_attempt"] and retrying["next_attempt"].endswith("+07:00")
    staff = next(r for r in rows if r["about"].endswith("to_staff"))
    assert (
        staff["to"] == "Phạm Thị D (staff, Q1-BN)"
        and staff["last_error"] == "the platform refused the message"
    )
    assert next(r for r in rows if r["about"].endswith("assigned"))["to"] == "citizen (Zalo)"
    nobody = next(r for r in rows if r["kind"] == "digest" and r["state"] == "failed")
    assert (nobody["to"], nobody["last_error"]) == (
        "head of Q1",
        "no head of the unit or above could be reached",
    )
    assert all(chat not in out for chat in CITIZEN_CHATS)  # a citizen's chat is never printed
    assert "outbox: 2 pending, 2 retrying, 4 failed" in err


def test_the_outbox_lists_one_state_in_a_table(config_file, capsys):
    asyncio.run(undelivered(config_file))
    rows, _, _ = listing(config_file, capsys, "--state", "retrying")
    assert [(r["kind"], r["state"]) for r in rows] == [("invitation", "retrying"), ("digest", "retrying")]
    assert main(["--config", str(config_file), "outbox", "--state", "failed"]) == 0
    table = capsys.readouterr().out
    header, *lines = table.splitlines()
    assert header.split() == [
        "kind",
        "item",
        "about",
        "to",
        "state",
        "attempts",
        "next_attempt",
        "last_error",
        "since",
    ]
    assert len(lines) == 4 and all(" failed " in line for line in lines)


def test_an_empty_outbox_says_so(config_file, capsys):
    assert main(["--config", str(config_file), "outbox"]) == 0
    assert capsys.readouterr().out == "nothing waiting, retrying or given up\n"
