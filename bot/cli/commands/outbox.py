"""`outbox`: what the bot has not delivered. Invitations and case notices waiting (pending), being
retried after a failure that may pass (retrying: the attempts, when the next one is due, the last
error), and given up because the platform refused them for good (failed: the chat blocked the bot
or does not exist, or the message was refused); digests not sent; and answers to people that never
got through. A citizen's chat id is personal data and is never printed: a citizen is shown as
"citizen (Telegram)", a head or staff member by name."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime

from bot.cli.commands.audit import PLATFORMS
from bot.cli.common import today, with_store
from bot.cli.output import Column, emit, render
from bot.config import Config
from storage.base import Storage
from storage.records import DigestRecord, DigestStatus, Invitation, Notice, OutboxStatus, UndeliveredReply

STATES = ("pending", "retrying", "failed", "all")
GIVEN_UP = (OutboxStatus.UNREACHABLE, OutboxStatus.FAILED)
DIGESTS_NOT_SENT = (
    DigestStatus.SENDING,
    DigestStatus.RETRYING,
    DigestStatus.FAILED,
    DigestStatus.UNREACHABLE,
)
LIMIT = 1000  # of each kind, the latest

OUTBOX_COLUMNS = (
    Column("kind"),
    Column("item"),
    Column("about"),
    Column("to"),
    Column("state"),
    Column("attempts"),
    Column("next_attempt"),
    Column("last_error"),
    Column("since"),
)


@dataclass(frozen=True)
class Found:
    invitations: list[Invitation]
    dossier_codes: dict[int, str]
    notices: list[Notice]
    people: dict[int, str]
    digests: list[DigestRecord]
    replies: list[UndeliveredReply]


def citizen(channel: str) -> str:
    return f"citizen ({PLATFORMS.get(channel, channel)})"


def list_outbox(config: Config, args: argparse.Namespace) -> int:
    """Prints what is pending, retrying or given up, oldest first within each kind."""
    now = datetime.now(UTC)

    async def fetch(store: Storage) -> Found:
        waiting_or_given_up = (OutboxStatus.PENDING, *GIVEN_UP)
        invitations = await store.outbox.list_invitations(waiting_or_given_up, limit=LIMIT)
        notices = await store.outbox.list_notices(waiting_or_given_up, limit=LIMIT)
        codes = {}
        for dossier_id in {i.dossier_id for i in invitations}:
            dossier = await store.dossiers.get_dossier_by_id(dossier_id)
            codes[dossier_id] = dossier.code if dossier else "?"
        people = {}
        for person_id in {n.person_id for n in notices if n.person_id is not None}:
            person = await store.directory.get_person(person_id)
            people[person_id] = (
                f"{person.name} ({person.role.value}, {person.unit_code})" if person else "a removed person"
            )
        return Found(
            invitations, codes, notices, people,
            await store.digests.list_digests(DIGESTS_NOT_SENT),
            await store.outbox.undelivered_replies(limit=LIMIT),
        )  # fmt: skip

    found = with_store(config, fetch)
    local = config.zone

    def at(moment: datetime | None) -> str | None:
        return moment.astimezone(local).isoformat(timespec="seconds") if moment else None

    def state_of(status: OutboxStatus, attempts: int) -> str:
        if status in GIVEN_UP:
            return "failed"
        return "retrying" if attempts else "pending"

    rows: list[dict[str, object]] = []
    for invitation in found.invitations:
        state = state_of(invitation.status, invitation.attempts)
        rows.append({
            "kind": "invitation", "item": invitation.id,
            "about": f"dossier {found.dossier_codes[invitation.dossier_id]}",
            "to": citizen(invitation.channel), "state": state, "attempts": invitation.attempts,
            "next_attempt": at(invitation.next_attempt_at) if state != "failed" else None,
            "last_error": invitation.error,
            "since": at(invitation.sent_at if state == "failed" else invitation.created_at),
        })  # fmt: skip
    for notice in found.notices:
        state = state_of(notice.status, notice.attempts)
        rows.append({
            "kind": "notice", "item": notice.id, "about": f"case #{notice.case_id}: {notice.kind}",
            "to": found.people.get(notice.person_id, "?") if notice.person_id is not None
            else citizen(notice.channel),
            "state": state, "attempts": notice.attempts,
            "next_attempt": at(notice.next_attempt_at) if state != "failed" else None,
            "last_error": notice.error,
            "since": at(notice.sent_at if state == "failed" else notice.created_at),
        })  # fmt: skip
    local_today = today(config, now)
    for digest in found.digests:
        state = digest_state(digest, local_today)
        rows.append({
            "kind": "digest", "item": f"{digest.unit_code} {digest.day.isoformat()}",
            "about": f"digest of {digest.day.strftime('%d/%m/%Y')}", "to": f"head of {digest.unit_code}",
            "state": state, "attempts": digest.attempts,
            "next_attempt": at(digest.next_attempt_at) if state == "retrying" else None,
            "last_error": digest.error or digest_why(digest, local_today),
            "since": at(digest.claimed_at),
        })  # fmt: skip
    for reply in found.replies:
        rows.append({
            "kind": "reply", "item": reply.id, "about": "an answer to what the person sent",
            "to": f"a chat on {PLATFORMS.get(reply.channel, reply.channel)}", "state": "failed",
            "attempts": None, "next_attempt": None, "last_error": reply.error, "since": at(reply.at),
        })  # fmt: skip
    if args.state != "all":
        rows = [r for r in rows if r["state"] == args.state]
    counts = {state: sum(r["state"] == state for r in rows) for state in STATES[:-1]}
    empty = "nothing waiting, retrying or given up" if args.state == "all" else f"nothing {args.state}"
    emit(render(rows, OUTBOX_COLUMNS, args.format, empty=empty))
    print(
        f"outbox: {counts['pending']} pending, {counts['retrying']} retrying, {counts['failed']} failed",
        file=sys.stderr,
    )
    return 0


def digest_state(digest: DigestRecord, local_today: date) -> str:
    """A digest of an earlier day that did not go will not go any more: the next one covers it."""
    if digest.status in (DigestStatus.FAILED, DigestStatus.UNREACHABLE) or digest.day < local_today:
        return "failed"
    return "retrying" if digest.status == DigestStatus.RETRYING else "pending"


def digest_why(digest: DigestRecord, local_today: date) -> str | None:
    if digest.status == DigestStatus.UNREACHABLE:
        return "no head of the unit or above could be reached"
    if digest.status == DigestStatus.SENDING:
        return "being sent" if digest.day == local_today else "its sending stopped before the end"
    return None
