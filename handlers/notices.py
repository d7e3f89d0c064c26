"""Case notices: the messages a case change sends to someone other than the person acting (the
staff member assigned, the citizen, the head of a reopened case), from the outbox."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from handlers.cases import CaseDesk, case_key
from handlers.chat import Address, Option, Reply, Sender
from handlers.dispatch import Dispatcher
from handlers.outbox import Round, settle
from handlers.texts import Language, text
from storage.records import Case, Notice, OutboxStatus


def render_notice(desk: CaseDesk, kind: str, case: Case, language: Language) -> Reply:
    """The message a notice of this kind sends, in the recipient's language."""
    if kind == "to_staff":
        return Reply(
            f"{text('notice_case_to_staff', language)}\n\n{desk.describe(case, language)}",
            (Option(case_key(case.id, "resolve"), text("button_resolve", language)),),
            text("typing_hint", language),
        )
    if kind == "assigned":
        return Reply(
            text(
                "notice_case_assigned",
                language,
                procedure=case.procedure,
                unit=case.unit_name,
                name=case.assignee_name or "",
            )
        )
    if kind == "resolved":
        return Reply(
            text(
                "notice_case_resolved",
                language,
                unit=case.unit_name,
                procedure=case.procedure,
                note=case.resolution or "",
            ),
            (
                Option(case_key(case.id, "ok"), text("button_resolved_yes", language)),
                Option(case_key(case.id, "no"), text("button_resolved_no", language)),
            ),
            text("typing_hint", language),
        )
    if kind == "reopened":
        return Reply(
            f"{text('notice_case_reopened', language, id=case.id)}\n\n{desk.describe(case, language)}",
            desk.head_buttons(case, language),
            text("typing_hint", language),
        )
    raise ValueError(f"unknown notice kind {kind!r}")


async def send_notices(dispatcher: Dispatcher, senders: Mapping[str, Sender], now: datetime) -> Round:
    """Sends every pending case notice whose channel is running; returns what became of them."""
    outcome = Round()
    for notice in await dispatcher.store.pending_notices():
        sender = senders.get(notice.channel)
        outcome.count(await _send_one(dispatcher, sender, notice, now) if sender else None)
    return outcome


async def _send_one(
    dispatcher: Dispatcher, sender: Sender, notice: Notice, now: datetime
) -> OutboxStatus | None:
    store = dispatcher.store
    case = await store.get_case(notice.case_id)
    chat = await store.get_chat_state(notice.channel, notice.chat_id)

    async def finish(status: OutboxStatus, why: str | None) -> None:
        await store.finish_notice(notice.id, status, now, why)

    if case is None:
        await finish(OutboxStatus.SKIPPED, "no such case")
        return OutboxStatus.SKIPPED
    if chat.unreachable_since is not None:
        await finish(OutboxStatus.UNREACHABLE, "chat blocked the bot")
        return OutboxStatus.UNREACHABLE
    reply = render_notice(dispatcher.cases, notice.kind, case, dispatcher.language_of(chat))
    delivery = await sender.send(notice.chat_id, reply)

    async def retry(error: str) -> int:
        return await store.retry_notice(notice.id, error)

    return await settle(
        store,
        Address(notice.channel, notice.chat_id),
        delivery,
        now,
        finish=finish,
        retry=retry,
        what=f"notice {notice.id}",
    )
