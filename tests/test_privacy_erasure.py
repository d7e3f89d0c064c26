"""Erasure leaves no trace: after a citizen is forgotten, no text column of any table of the database
holds their phone, name, chat id or complaint, while the unit's figures stay what they were."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

from storage.records import DossierEventFacts, DossierEventType, OutboxStatus
from storage.sqlite import SQLiteStorage
from tests.storage.conftest import T0, TREE, hours, set_units
from tests.storage.test_privacy import CHAT, COMPLAINT, NAME, PHONE, citizen_with_a_complaint

OA_USER = "oa-4471920385"  # the same citizen, following the unit's Zalo OA
SECRETS = (PHONE, NAME, CHAT, COMPLAINT, OA_USER)


def traces(path: Path, secrets: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """Every (table, column, secret) where a text column of the database holds one of the secrets."""
    found = []
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for column in [r[1] for r in db.execute(f"PRAGMA table_info({table})")]:
                for secret in secrets:
                    hit = db.execute(
                        f"SELECT 1 FROM {table} WHERE instr(CAST({column} AS TEXT), ?) > 0 LIMIT 1", (secret,)
                    ).fetchone()
                    if hit:
                        found.append((table, column, secret))
    return found


async def test_a_forgotten_citizen_leaves_no_trace_and_the_figures_stay(tmp_path: Path):
    path = tmp_path / "feedback.db"
    store = SQLiteStorage(path)
    await store.open()
    try:
        await set_units(store, TREE)
        dossier_id = await citizen_with_a_complaint(store)
        # Everything else that can hold the person: an invitation, an apology letter to the chat,
        # a wrong code typed, a reply the platform refused, the dossier updated with its facts.
        (invitation,) = await store.outbox.pending_invitations()
        await store.outbox.finish_invitation(invitation.id, OutboxStatus.SENT, T0)
        extended = DossierEventFacts(
            type=DossierEventType.EXTENDED, at=T0, reason="Chờ ý kiến", new_due_at=T0 + timedelta(days=3)
        )
        await store.dossiers.add_dossier_event("HS-P", extended, actor="test", now=T0)
        await store.dossiers.record_wrong_code("telegram", CHAT, T0)
        await store.outbox.record_undelivered_reply("telegram", CHAT, T0, "flood control")
        await store.chats.note_notice("telegram", CHAT, T0)
        # On Zalo: the OA chat, its follow event, a ZNS to the phone, the phone noted without Zalo.
        await store.dossiers.link_chat(dossier_id, "zalo_oa", OA_USER, T0)
        await store.zalo_oa.record_webhook_event(f"follow:{OA_USER}:1764205200000", "follow", T0)
        await store.zalo_oa.add_zns_message(
            purpose="apology", dossier_id=dossier_id, template_id="apo-1", tracking_id="letter-1",
            phone=PHONE, now=T0,
        )  # fmt: skip
        await store.zalo_oa.mark_phone_without_zalo(PHONE, T0)
        found = traces(path, SECRETS)
        assert found  # the scan finds what is there
        before = await store.digests.figures_by_unit(T0 - hours(24), T0 + hours(24))

        await store.privacy.forget_chat("telegram", CHAT, actor="citizen", now=T0 + hours(5), note="withdrew")
        # The reply that says so goes out after: remembering its (absent) menu makes no chat row again.
        await store.chats.remember_menu("telegram", CHAT, [], first=1, now=T0 + hours(5))

        assert traces(path, SECRETS) == []
        assert await store.digests.figures_by_unit(T0 - hours(24), T0 + hours(24)) == before
        answer = await store.surveys.get_answer(dossier_id)
        assert answer is not None and answer.follow_ups  # the factors stay
    finally:
        await store.close()


async def test_an_admin_erasure_leaves_no_trace_either(tmp_path: Path):
    path = tmp_path / "feedback.db"
    store = SQLiteStorage(path)
    await store.open()
    try:
        await set_units(store, TREE)
        dossier_id = await citizen_with_a_complaint(store)
        await store.dossiers.record_wrong_code("telegram", CHAT, T0)
        await store.outbox.record_undelivered_reply("telegram", CHAT, T0, "flood control")
        await store.privacy.forget_dossiers([dossier_id], actor="admin", now=T0 + hours(5), note="erased")
        assert traces(path, SECRETS) == []
    finally:
        await store.close()
