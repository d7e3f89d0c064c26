"""Routes what a person sent to the handler for it. The one entry point every channel calls."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from handlers.admin import ActivateQuestionSet, AdminDesk, ApplyDirectory
from handlers.buttons import Button, read_button
from handlers.cases import AWAITED_TEXTS, CaseButton, CaseDesk, CasesPage, typed_case_button
from handlers.chat import BUTTON_CHANNELS, Incoming, Kind, Option, Reply, text_length
from handlers.extensions import (
    AWAITED_EXTENSION,
    DelegateExtension,
    ExtendDossier,
    ExtensionDesk,
    typed_extend_button,
)
from handlers.privacy import ConsentAnswer, ForgetMe, PrivacyDesk, typed_privacy_command, with_notice
from handlers.question_set import MAX_TEXT_LENGTH
from handlers.report_chat import ReportDesk
from handlers.survey import SurveyFlow, SurveyOption
from handlers.tally import NO_TALLY, Tally
from handlers.texts import LANGUAGES, Language, language_of, text
from handlers.throttled_log import ThrottledLog
from handlers.typed import typed_choice, typed_number
from storage.base import ChatRepository, DatabaseUnavailable, DirectoryRepository
from storage.records import ChatState

log = logging.getLogger(__name__)

# The commands shown in a platform's command menu, with the catalog key of their description.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", "command_start"),
    ("help", "command_help"),
    ("language", "command_language"),
    ("mydata", "command_mydata"),
    ("forget", "command_forget"),
    ("privacy", "command_privacy"),
)


class ChooseLanguage(Button, prefix="lang."):
    """A language the bot speaks, offered by /language."""

    language: Language


B = TypeVar("B", bound=Button)


@dataclass(frozen=True)
class Route(Generic[B]):
    """A kind of button and the handler that answers it."""

    button: type[B]
    answer: Callable[[ChatState, B, Language, datetime], Awaitable[list[Reply]]]


def route(
    button: type[B], answer: Callable[[ChatState, B, Language, datetime], Awaitable[list[Reply]]]
) -> Route[Any]:
    """The route of a kind of button; mypy checks here that its handler takes that kind."""
    return Route(button, answer)


class Dispatcher:
    def __init__(
        self,
        chats: ChatRepository,
        directory: DirectoryRepository,
        survey: SurveyFlow,
        cases: CaseDesk,
        admin: AdminDesk,
        default_language: Language,
        *,
        extensions: ExtensionDesk | None = None,
        privacy: PrivacyDesk | None = None,
        reports: ReportDesk | None = None,
        tally: Tally = NO_TALLY,
    ) -> None:
        self.chats = chats
        self.directory = directory
        self.survey = survey
        self.cases = cases
        self.admin = admin
        self.default_language = default_language
        self.extensions = extensions or ExtensionDesk(survey.dossiers, directory, chats, cases.settings)
        self.privacy = privacy  # None: no privacy notice nor /mydata, /forget (tests of other flows)
        self.reports = reports  # /report; None where reports are not wired (the answer: unknown command)
        self.tally = tally  # counts what each channel hands over
        # Called after a case changed, so its notices go out now rather than at the next round.
        self.on_notices: Callable[[], None] = lambda: None
        # Every button the bot has, and the handler that answers it.
        routes = (
            route(SurveyOption, survey.answer_option),
            route(CaseButton, self.act_on_case),
            route(CasesPage, self.show_cases_page),
            route(ActivateQuestionSet, admin.activate),
            route(ApplyDirectory, admin.apply_proposal),
            route(ChooseLanguage, self.choose_language),
            route(ExtendDossier, self.extensions.press),
            route(DelegateExtension, self.extensions.delegate),
            route(ForgetMe, self.forget),
            route(ConsentAnswer, survey.answer_consent),
        )
        self.buttons: dict[type[Button], Route[Any]] = {r.button: r for r in routes}
        # A full disk fails every message alike: once a minute in the log is enough to be seen.
        self.unsaved = ThrottledLog(log)

    def language_of(self, chat: ChatState, hint: str | None = None) -> Language:
        """The chat's chosen language, else the platform's hint, else the configured default."""
        return language_of(chat.language or hint, self.default_language)

    async def handle(self, incoming: Incoming) -> list[Reply]:
        """Answers one incoming message or button press; when the database cannot be written (a
        full disk, a read-only file), says so politely and goes on: each message is tried afresh,
        so the bot recovers by itself once the disk can be written again."""
        self.tally.update_handled(incoming.address.channel)
        try:
            return await self.answer(incoming)
        except DatabaseUnavailable as exc:
            self.unsaved.error("a message on %s was not saved: %s", incoming.address.channel, exc)
            language = language_of(incoming.language_hint, self.default_language)
            # The chat's chosen language is a nicety: the apology goes out whatever stops the read.
            with contextlib.suppress(Exception):
                chat = await self.chats.get_chat_state(incoming.address.channel, incoming.address.chat_id)
                language = self.language_of(chat, incoming.language_hint)
            return [Reply(text("not_saved", language))]

    async def answer(self, incoming: Incoming) -> list[Reply]:
        """Answers one incoming message or button press, the database permitting. The first answer
        to a citizen's chat carries the privacy notice."""
        address = incoming.address
        chat = await self.chats.get_chat_state(address.channel, address.chat_id)
        replies = await self._answer(incoming, chat)
        if self._may_choose_language(incoming, chat):  # the notice in the language chosen just now
            chat = await self.chats.get_chat_state(address.channel, address.chat_id)
        language = self.language_of(chat, incoming.language_hint)
        return await self.with_first_notice(chat, replies, language, incoming.received_at)

    async def with_first_notice(
        self, chat: ChatState, replies: list[Reply], language: Language, now: datetime
    ) -> list[Reply]:
        """The replies, after the privacy notice if they are the first a citizen's chat gets."""
        if self.privacy is None or chat.is_person or chat.notice_at is not None or not replies:
            return replies
        if not await self.chats.note_notice(chat.channel, chat.chat_id, now):
            return replies
        notice = self.privacy.notice(chat.channel, language)
        if any(notice in reply.text for reply in replies):  # the consent question carries it
            return replies
        return with_notice(replies, notice)

    @staticmethod
    def _may_choose_language(incoming: Incoming, chat: ChatState) -> bool:
        """Whether what came may have set the chat's language (so it is read again)."""
        prefix = ChooseLanguage.prefix
        if incoming.kind == Kind.OPTION:
            return (incoming.option or "").startswith(prefix)
        if incoming.kind == Kind.COMMAND:
            return (incoming.command or "").lower() == "language"
        return any(key.startswith(prefix) for key, _ in chat.menu)

    async def _answer(self, incoming: Incoming, chat: ChatState) -> list[Reply]:
        address, now = incoming.address, incoming.received_at
        if chat.survey is not None:  # the set it was begun with, even if imported by another process
            await self.survey.sets.load(chat.survey.question_set, chat.survey.question_set_version)
        if chat.unreachable_since is not None:
            # They wrote to us, so they unblocked the bot.
            await self.chats.mark_reachable(address.channel, address.chat_id)
        language = self.language_of(chat, incoming.language_hint)

        if chat.is_person and chat.person_channel != address.channel:
            # Heads and staff on several channels are written to where they last wrote from.
            await self.directory.note_person_channel(address.channel, address.chat_id)

        if incoming.kind == Kind.COMMAND:
            if chat.awaiting is not None:  # a command moves on from the text the chat was asked for
                await self.chats.set_awaiting(address.channel, address.chat_id, None)
                chat = chat.model_copy(update={"awaiting": None})
            return await self._command(incoming, chat, language, now)
        if incoming.kind == Kind.OPTION and incoming.option is not None:
            return await self.press(chat, incoming.option, language, now)
        if incoming.kind == Kind.TEXT:
            return await self._text(chat, incoming.text, language, now)
        if incoming.kind == Kind.DOCUMENT:
            return await self.admin.receive_document(chat, incoming.text, incoming.attachment, language, now)
        return self.refuse_unsupported(chat, language)

    async def press(self, chat: ChatState, data: str, language: Language, now: datetime) -> list[Reply]:
        """Answers a button pressed, or an option chosen by typing its number or words."""
        button = read_button(data)
        if button is None:  # forged, malformed, or from a kind of button the bot no longer has
            return [Reply(text("stale_option", language))]
        return await self.answer_button(chat, button, language, now)

    async def answer_button(
        self, chat: ChatState, button: Button, language: Language, now: datetime
    ) -> list[Reply]:
        """Hands a button, pressed or typed as a short command, to the handler that answers it."""
        routed = self.buttons.get(type(button))
        if routed is None:
            return [Reply(text("stale_option", language))]
        if chat.awaiting is not None and chat.awaiting.startswith(AWAITED_EXTENSION):
            # A button of another flow ends the extension being written (its own starts afresh).
            await self.chats.set_awaiting(chat.channel, chat.chat_id, None)
            chat = chat.model_copy(update={"awaiting": None})
        return await routed.answer(chat, button, language, now)

    async def act_on_case(
        self, chat: ChatState, button: CaseButton, language: Language, now: datetime
    ) -> list[Reply]:
        """Answers a case button, then lets the case's notices go out at once."""
        return self._notifying(await self.cases.press(chat, button, language, now))

    async def show_cases_page(
        self, chat: ChatState, button: CasesPage, language: Language, now: datetime
    ) -> list[Reply]:
        """Shows the next page of /cases."""
        return await self.cases.list_open(chat, button.page, language, now)

    async def choose_language(
        self, chat: ChatState, button: ChooseLanguage, language: Language, now: datetime
    ) -> list[Reply]:
        """Sets the language chosen with a button."""
        return await self.set_language(chat, button.language)

    async def _text(self, chat: ChatState, message: str, language: Language, now: datetime) -> list[Reply]:
        """Answers typed text: a resolution note awaited, a short command ("giao 12"), a survey
        code, an option typed by its number or words, or a survey answer."""
        if (length := text_length(message)) > MAX_TEXT_LENGTH:
            return [Reply(text("too_long", language, length=length, limit=MAX_TEXT_LENGTH))]
        if (typed := typed_privacy_command(message)) is not None and (
            replies := await self._privacy(typed, chat, language, now)
        ) is not None:
            return replies
        # A survey code is never an answer, nor a message awaited: at any step it resumes the
        # survey (or opens its own), and it ends waiting for a text.
        if (replies := await self.survey.answer_code(chat, message, language, now)) is not None:
            asks_consent = any(o.key.startswith(ConsentAnswer.prefix) for r in replies for o in r.options)
            if chat.awaiting is not None and not asks_consent:  # consent waits on its own answer
                await self.chats.set_awaiting(chat.channel, chat.chat_id, None)
            return replies
        if chat.awaiting is not None and chat.awaiting.startswith(AWAITED_TEXTS):
            return self._notifying(await self.cases.receive_text(chat, message, language, now))
        if chat.awaiting is not None and chat.awaiting.startswith(AWAITED_EXTENSION):
            return await self.extensions.receive_text(chat, message, language, now)
        # Short commands are for heads and staff: a citizen's words are never taken for one.
        if chat.is_person and (button := self.typed_button(message)) is not None:
            return await self.answer_button(chat, button, language, now)
        if chat.menu and (data := typed_choice(chat.menu, message)) is not None:
            return await self.press(chat, data, language, now)
        if self.survey.survey_step(chat) is None:
            if chat.menu:  # the choices shown last, again
                options = tuple(Option(key, label) for key, label in chat.menu)
                return [Reply(text("menu_expected", language), options, text("typing_hint", language))]
            if chat.is_person:
                return [Reply(text("help_people", language))]
        return await self.survey.answer_text(chat, message, language, now)

    async def _command(
        self, incoming: Incoming, chat: ChatState, language: Language, now: datetime
    ) -> list[Reply]:
        command = (incoming.command or "").lower()
        argument = incoming.text.strip()
        if command == "start":
            if argument:
                return await self.survey.open_link(chat, argument, language, now)
            return self.welcome(chat, language)
        if command == "help":
            return self.show_help(chat, language)
        if command in ("id", "myid"):
            platform, chat_id = chat.channel.capitalize(), chat.chat_id
            return [
                Reply(text("your_id", language, platform=platform, channel=chat.channel, chat_id=chat_id))
            ]
        if command == "cancel":
            return [Reply(text("cancelled", language))]
        if (replies := await self._privacy(command, chat, language, now)) is not None:
            return replies
        if chat.is_person and (button := self.typed_button(f"{command} {argument}")) is not None:
            return await self.answer_button(chat, button, language, now)
        if command == "cases":
            page = typed_number(argument)
            return await self.cases.list_open(chat, page - 1 if page else 0, language, now)
        if command == "mycases":
            return await self.cases.list_mine(chat, language)
        if command == "questions":
            return await self.admin.list_sets(chat, language)
        if command == "report" and self.reports is not None:
            return await self.reports.send_report(chat, language, now)
        if command == "language":
            if argument.lower() in LANGUAGES:
                return await self.set_language(chat, argument.lower())
            return self.offer_languages(language)
        return [Reply(text("unknown_command", language))]

    async def _privacy(
        self, command: str, chat: ChatState, language: Language, now: datetime
    ) -> list[Reply] | None:
        """/mydata, /forget and /privacy (typed «dulieu», «xoa du lieu» on Zalo); None for others."""
        if self.privacy is None:
            return None
        if command == "mydata":
            return await self.privacy.show_data(chat, language, now)
        if command == "forget":
            return self.privacy.ask_forget(chat, language)
        if command == "privacy":
            return self.privacy.full_notice(chat, language)
        return None

    async def forget(
        self, chat: ChatState, button: ForgetMe, language: Language, now: datetime
    ) -> list[Reply]:
        """Erases the citizen's personal data once confirmed."""
        if self.privacy is None:
            return [Reply(text("stale_option", language))]
        return await self.privacy.forget(chat, button, language, now)

    @staticmethod
    def typed_button(words: str) -> Button | None:
        """The button a short command typed by a head or staff member stands for."""
        return typed_case_button(words) or typed_extend_button(words)

    def _notifying(self, replies: list[Reply]) -> list[Reply]:
        self.on_notices()
        return replies

    def welcome(self, chat: ChatState, language: Language) -> list[Reply]:
        """Greets someone who opened the bot without a survey link; resumes a survey in progress."""
        current = self.survey.current_question(chat, language)
        return [current] if current else [Reply(text("welcome", language))]

    def show_help(self, chat: ChatState, language: Language) -> list[Reply]:
        """Explains the bot, then repeats the question a survey in progress waits on."""
        current = self.survey.current_question(chat, language)
        people = [Reply(text("help_people", language))] if chat.is_person else []
        answering = text(
            "help_answer_buttons" if chat.channel in BUTTON_CHANNELS else "help_answer_typed", language
        )
        return [Reply(text("help", language, answering=answering)), *people, *([current] if current else [])]

    def offer_languages(self, language: Language) -> list[Reply]:
        """Offers the languages the bot speaks."""
        options = tuple(
            Option(ChooseLanguage(lang).pack(), text("language_name", lang)) for lang in LANGUAGES
        )
        return [Reply(text("choose_language", language), options, text("language_hint", language))]

    async def set_language(self, chat: ChatState, choice: str) -> list[Reply]:
        """Remembers the chat's language and repeats the current question in it."""
        if choice not in LANGUAGES:
            return [Reply(text("stale_option", self.language_of(chat)))]
        language = language_of(choice, self.default_language)
        await self.chats.set_language(chat.channel, chat.chat_id, language)
        current = self.survey.current_question(chat, language)
        return [Reply(text("language_set", language)), *([current] if current else [])]

    def refuse_unsupported(self, chat: ChatState, language: Language) -> list[Reply]:
        """Answers a photo, sticker, contact or file politely, and repeats the current question."""
        question = self.survey.survey_step(chat)
        if question is not None and question.type == "text":
            return [Reply(text("text_expected", language))]
        current = self.survey.current_question(chat, language)
        return [Reply(text("unsupported", language)), *([current] if current else [])]
