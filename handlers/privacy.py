"""A citizen's personal data (Law 91/2025/QH15 and Decree 356/2025): the notice the first message to
a chat carries, consent where the unit asks for it, the citizen's data shown to them (/mydata, typed
«dulieu» on Zalo) and erased on request (/forget, typed «xóa dữ liệu»), after a confirmation.

What is erased, and what stays (ratings and factors, anonymous, so a unit's figures do not change),
is storage's (PrivacyRepository); the wording is the catalog's. Every access and erasure is in the
audit, naming no one."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from handlers.buttons import Button
from handlers.cases import WITHDRAWN
from handlers.chat import BUTTON_CHANNELS, Attachment, Option, Reply
from handlers.texts import Language, text
from handlers.typed import folded
from storage.base import AuditRepository, PrivacyRepository
from storage.records import ChatState, PersonalData

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
TYPED_MYDATA = ("dulieu", "du lieu", "mydata")
TYPED_FORGET = ("xoa du lieu", "xoadulieu", "forget")
TYPED_PRIVACY = ("quyen rieng tu", "quyenriengtu", "privacy")
SHOWN = 10  # answers and cases written out in the message; the JSON file has them all


class ForgetMe(Button, prefix="forget."):
    """The citizen's answer to "erase everything about me?"."""

    answer: Literal["yes", "no"]


class ConsentAnswer(Button, prefix="consent."):
    """The citizen's answer to the consent question (config privacy.consent: explicit)."""

    answer: Literal["yes", "no"]


@dataclass(frozen=True)
class PrivacySettings:
    controller: str | None = None  # who processes the data; None: the unit and the body running the bot
    explicit_consent: bool = False
    retention_days: int = 730


def typed_privacy_command(words: str) -> str | None:
    """The privacy command a typed text stands for ("mydata" or "forget"), where there are no
    slash commands; None for anything else."""
    typed = folded(words).strip().lstrip("/")
    if typed in TYPED_MYDATA:
        return "mydata"
    if typed in TYPED_FORGET:
        return "forget"
    if typed in TYPED_PRIVACY:
        return "privacy"
    return None


def privacy_notice(settings: PrivacySettings, channel: str, language: Language) -> str:
    """The short notice: who, what, why, how long, and how to see or erase it."""
    commands = "privacy_commands_buttons" if channel in BUTTON_CHANNELS else "privacy_commands_typed"
    return text(
        "privacy_notice",
        language,
        controller=settings.controller or text("privacy_controller_default", language),
        days=settings.retention_days,
        commands=text(commands, language),
    )


def personal_json(data: PersonalData) -> bytes:
    """Everything stored about the citizen, as a JSON file."""
    return json.dumps(data.model_dump(mode="json"), ensure_ascii=False, indent=2).encode("utf-8")


class PrivacyDesk:
    def __init__(
        self,
        privacy: PrivacyRepository,
        audit: AuditRepository,
        settings: PrivacySettings,
        zone: ZoneInfo = VIETNAM,
    ) -> None:
        self.privacy = privacy
        self.audit = audit
        self.settings = settings
        self.zone = zone

    def notice(self, channel: str, language: Language) -> str:
        return privacy_notice(self.settings, channel, language)

    def full_notice(self, chat: ChatState, language: Language) -> list[Reply]:
        """/privacy: the whole notice."""
        return [Reply(self.notice(chat.channel, language))]

    async def show_data(self, chat: ChatState, language: Language, now: datetime) -> list[Reply]:
        """/mydata: everything stored about the citizen of this chat, as a message and (where the
        platform takes files) as a JSON file."""
        data = await self.privacy.personal_data(chat.channel, chat.chat_id)
        await self.audit.record_access("citizen", "personal data shown", f"a {chat.channel} chat", now)
        lines = [text("mydata_header", language)]
        if not (data.dossiers or data.answers or data.cases):
            lines.append(text("mydata_nothing", language))
        lines += [text("mydata_dossier", language, code=d.code, procedure=d.procedure) for d in data.dossiers]
        for answer in data.answers[:SHOWN]:
            words = " ".join(answer.texts.values())
            lines.append(
                text(
                    "mydata_answer",
                    language,
                    code=answer.dossier_code,
                    day=answer.answered_at.astimezone(self.zone).strftime("%d/%m/%Y"),
                    rating=text(f"rating_{answer.rating.value}", language),
                    words=f" «{words}»" if words else "",
                )
            )
        for case in data.cases[:SHOWN]:
            lines.append(
                text(
                    "mydata_case",
                    language,
                    id=case.id,
                    code=case.dossier_code,
                    state=text(f"state_{case.state.value}", language),
                    events=len(case.events),
                )
            )
        lines.append(text("mydata_footer", language, days=self.settings.retention_days))
        attachment = (
            Attachment(f"du-lieu-ca-nhan-{chat.channel}.json", personal_json(data), "application/json")
            if chat.channel in BUTTON_CHANNELS
            else None
        )
        return [Reply("\n".join(lines), attachment=attachment)]

    def ask_forget(self, chat: ChatState, language: Language) -> list[Reply]:
        """/forget: asks the citizen to confirm, saying what goes and what stays."""
        options = (
            Option(ForgetMe("yes").pack(), text("button_forget_yes", language)),
            Option(ForgetMe("no").pack(), text("button_forget_no", language)),
        )
        return [Reply(text("ask_forget", language), options, text("typing_hint", language))]

    async def forget(
        self, chat: ChatState, button: ForgetMe, language: Language, now: datetime
    ) -> list[Reply]:
        """Erases the citizen's personal data once they confirmed; their open complaints close."""
        if button.answer == "no":
            return [Reply(text("forget_cancelled", language))]
        data = await self.privacy.personal_data(chat.channel, chat.chat_id)
        if not (data.dossiers or data.answers or data.cases or data.consent or data.notice_at):
            return [Reply(text("forget_nothing", language))]  # pressed again: nothing left, nothing audited
        forgotten = await self.privacy.forget_chat(
            chat.channel, chat.chat_id, actor="citizen", now=now, note=WITHDRAWN
        )
        return [
            Reply(
                text(
                    "forgotten",
                    language,
                    answers=forgotten.answers,
                    cases=len(forgotten.closed_cases),
                )
            )
        ]

    def consent_question(self, channel: str, language: Language) -> Reply:
        """The notice, then "Do you agree?" (config privacy.consent: explicit)."""
        options = (
            Option(ConsentAnswer("yes").pack(), text("button_consent_yes", language)),
            Option(ConsentAnswer("no").pack(), text("button_consent_no", language)),
        )
        said = f"{self.notice(channel, language)}\n\n{text('ask_consent', language)}"
        return Reply(said, options, text("typing_hint", language))


def with_notice(replies: Sequence[Reply], notice: str) -> list[Reply]:
    """The replies with the notice at the head of the first one's text: read first, and a
    question keeps its options right under it."""
    if not replies:
        return [Reply(notice)]
    first = replies[0]
    return [replace(first, text=f"{notice}\n\n{first.text}"), *replies[1:]]


RETENTION_BATCH = 500  # dossiers erased in one transaction


async def erase_expired(privacy: PrivacyRepository, retention_days: int, now: datetime) -> int:
    """Erases the personal data of every dossier inactive for longer than the retention period (a
    batch a transaction, so a large first run holds the database a moment at a time); how many."""
    before = now - timedelta(days=retention_days)
    erased = 0
    while ids := await privacy.inactive_dossiers(before, RETENTION_BATCH):
        await privacy.forget_dossiers(ids, actor="retention", now=now, note=text("case_retention_note", "vi"))
        erased += len(ids)
    return erased
