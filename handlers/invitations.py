"""The outbox of survey invitations: a dossier returned while its citizen's chat waits for the
survey. The running bot sends each once, records the outcome, and never loses one while down."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from handlers.chat import Address, Delivery, Sender
from handlers.dispatch import Dispatcher
from storage.records import Invitation, OutboxStatus

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
# A survey left unanswered this long no longer holds back a newer invitation to the same chat.
ABANDONED_AFTER = timedelta(hours=12)


@dataclass
class InvitationRound:
    sent: int = 0
    skipped: int = 0
    unreachable: int = 0
    failed: int = 0
    waiting: int = 0


async def send_invitations(
    dispatcher: Dispatcher, senders: Mapping[str, Sender], now: datetime, cooldown: timedelta
) -> InvitationRound:
    """Sends every pending invitation whose channel is running; returns what became of them."""
    store = dispatcher.store
    outcome = InvitationRound()
    for invitation in await store.pending_invitations():
        sender = senders.get(invitation.channel)
        if sender is None:
            outcome.waiting += 1
            continue
        status = await _send_one(dispatcher, sender, invitation, now, cooldown)
        if status is None:
            outcome.waiting += 1
        else:
            setattr(outcome, status.value, getattr(outcome, status.value) + 1)
    return outcome


async def _send_one(
    dispatcher: Dispatcher, sender: Sender, invitation: Invitation, now: datetime, cooldown: timedelta
) -> OutboxStatus | None:
    store = dispatcher.store
    address = Address(invitation.channel, invitation.chat_id)
    chat = await store.get_chat_state(address.channel, address.chat_id)
    dossier = await store.get_dossier_by_id(invitation.dossier_id)
    if dossier is None or dossier.answered:
        return await _finish(dispatcher, invitation, OutboxStatus.SKIPPED, now, "already answered")
    if chat.unreachable_since is not None:
        return await _finish(dispatcher, invitation, OutboxStatus.UNREACHABLE, now, "chat blocked the bot")
    if await store.answered_since(address.channel, address.chat_id, now - cooldown):
        return await _finish(dispatcher, invitation, OutboxStatus.SKIPPED, now, "cool-down")
    survey = chat.survey
    if (
        survey is not None
        and survey.dossier_id != dossier.id
        and survey.step is not None
        and now - survey.updated_at < ABANDONED_AFTER
    ):
        return None  # the citizen is in the middle of another survey: ask after it
    language = dispatcher.language_of(chat)
    reply = await dispatcher.survey.begin(address, dossier, language, now)
    delivery = await sender.send(address.chat_id, reply)
    if delivery == Delivery.SENT:
        return await _finish(dispatcher, invitation, OutboxStatus.SENT, now)
    if delivery == Delivery.UNREACHABLE:
        await store.mark_unreachable(address.channel, address.chat_id, now)
        return await _finish(dispatcher, invitation, OutboxStatus.UNREACHABLE, now, "chat blocked the bot")
    attempts = await store.retry_invitation(invitation.id, "send failed")
    if attempts >= MAX_ATTEMPTS:
        return await _finish(dispatcher, invitation, OutboxStatus.FAILED, now, f"failed {attempts} times")
    log.warning(
        "invitation %s to %s:%s failed (attempt %s); will retry",
        invitation.id,
        invitation.channel,
        invitation.chat_id,
        attempts,
    )
    return None


async def _finish(
    dispatcher: Dispatcher,
    invitation: Invitation,
    status: OutboxStatus,
    now: datetime,
    why: str | None = None,
) -> OutboxStatus:
    await dispatcher.store.finish_invitation(invitation.id, status, now, why)
    log.info(
        "invitation %s for dossier %s to %s:%s: %s%s",
        invitation.id,
        invitation.dossier_id,
        invitation.channel,
        invitation.chat_id,
        status.value,
        f" ({why})" if why else "",
    )
    return status
