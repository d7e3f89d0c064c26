"""The outbox of survey invitations: a dossier returned while its citizen's chat waits for the
survey. The running bot sends each once, records the outcome, and never loses one while down."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from handlers.chat import Address, Sender
from handlers.outbox import Round, settle
from handlers.survey import SurveyFlow
from handlers.texts import Language, language_of
from storage.base import ChatRepository, DossierRepository, OutboxRepository, SurveyRepository
from storage.records import Invitation, OutboxStatus

log = logging.getLogger(__name__)
# A survey left unanswered this long no longer holds back a newer invitation to the same chat.
ABANDONED_AFTER = timedelta(hours=12)


class Invitations:
    def __init__(
        self,
        outbox: OutboxRepository,
        chats: ChatRepository,
        dossiers: DossierRepository,
        surveys: SurveyRepository,
        flow: SurveyFlow,
        default_language: Language,
    ) -> None:
        self.outbox = outbox
        self.chats = chats
        self.dossiers = dossiers
        self.surveys = surveys
        self.flow = flow
        self.default_language = default_language

    async def send(self, senders: Mapping[str, Sender], now: datetime, cooldown: timedelta) -> Round:
        """Sends every pending invitation whose channel is running; returns what became of them.
        Reads them a page at a time to the end, so those waiting for a channel that is not running
        never hold back the others."""
        outcome = Round()
        after = 0
        while page := await self.outbox.pending_invitations(after_id=after):
            for invitation in page:
                sender = senders.get(invitation.channel)
                outcome.count(await self._send_one(sender, invitation, now, cooldown) if sender else None)
            after = page[-1].id
        return outcome

    async def _send_one(
        self, sender: Sender, invitation: Invitation, now: datetime, cooldown: timedelta
    ) -> OutboxStatus | None:
        address = Address(invitation.channel, invitation.chat_id)
        chat = await self.chats.get_chat_state(address.channel, address.chat_id)
        dossier = await self.dossiers.get_dossier_by_id(invitation.dossier_id)
        if dossier is None or dossier.answered:
            return await self._finish(invitation, OutboxStatus.SKIPPED, now, "already answered")
        if chat.unreachable_since is not None:
            return await self._finish(invitation, OutboxStatus.UNREACHABLE, now, "chat blocked the bot")
        if await self.surveys.answered_since(address.channel, address.chat_id, now - cooldown):
            return await self._finish(invitation, OutboxStatus.SKIPPED, now, "cool-down")
        survey = chat.survey
        if (
            survey is not None
            and survey.dossier_id != dossier.id
            and survey.step is not None
            and now - survey.updated_at < ABANDONED_AFTER
        ):
            return None  # the citizen is in the middle of another survey: ask after it
        language = language_of(chat.language, self.default_language)
        reply = await self.flow.begin(address, dossier, language, now)
        delivery = await sender.send(address.chat_id, reply)

        async def finish(status: OutboxStatus, why: str | None) -> None:
            await self._finish(invitation, status, now, why)

        async def retry(error: str) -> int:
            return await self.outbox.retry_invitation(invitation.id, error)

        return await settle(
            self.chats, address, delivery, now, finish=finish, retry=retry, what=f"invitation {invitation.id}"
        )

    async def _finish(
        self, invitation: Invitation, status: OutboxStatus, now: datetime, why: str | None = None
    ) -> OutboxStatus:
        await self.outbox.finish_invitation(invitation.id, status, now, why)
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
