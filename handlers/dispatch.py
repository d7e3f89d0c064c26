"""Routes what a person sent to the handler for it. The one entry point every channel calls."""

from __future__ import annotations

import logging
from datetime import datetime

from handlers.chat import Incoming, Kind, Option, Reply
from handlers.question_set import MAX_TEXT_LENGTH
from handlers.survey import SurveyFlow
from handlers.texts import LANGUAGES, Language, language_of, text
from storage.base import Storage

log = logging.getLogger(__name__)

LANGUAGE_KEY = "lang."

# The commands shown in a platform's command menu, with the catalog key of their description.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", "command_start"),
    ("help", "command_help"),
    ("language", "command_language"),
)


class Dispatcher:
    def __init__(self, store: Storage, survey: SurveyFlow, default_language: Language) -> None:
        self.store = store
        self.survey = survey
        self.default_language = default_language

    async def language_for(self, channel: str, chat_id: str, hint: str | None = None) -> Language:
        """The chat's chosen language, else the platform's hint, else the configured default."""
        chat = await self.store.get_chat(channel, chat_id)
        if chat is not None and chat.language is not None:
            return language_of(chat.language, self.default_language)
        return language_of(hint, self.default_language)

    async def handle(self, incoming: Incoming) -> list[Reply]:
        """Answers one incoming message or button press."""
        address, now = incoming.address, incoming.received_at
        chat = await self.store.get_chat(address.channel, address.chat_id)
        if chat is not None and chat.unreachable_since is not None:
            # They wrote to us, so they unblocked the bot.
            await self.store.mark_reachable(address.channel, address.chat_id)
        if chat is not None and chat.language is not None:
            language = language_of(chat.language, self.default_language)
        else:
            language = language_of(incoming.language_hint, self.default_language)

        if incoming.kind == Kind.COMMAND:
            return await self._command(incoming, language, now)
        if incoming.kind == Kind.OPTION and incoming.option is not None:
            if incoming.option.startswith(LANGUAGE_KEY):
                return await self.set_language(incoming, incoming.option[len(LANGUAGE_KEY) :])
            return await self.survey.answer_option(address, incoming.option, language, now)
        if incoming.kind == Kind.TEXT:
            if len(incoming.text) > MAX_TEXT_LENGTH:
                return [Reply(text("too_long", language, length=len(incoming.text), limit=MAX_TEXT_LENGTH))]
            return await self.survey.answer_text(address, incoming.text, language, now)
        return await self.refuse_unsupported(incoming, language)

    async def _command(self, incoming: Incoming, language: Language, now: datetime) -> list[Reply]:
        command = (incoming.command or "").lower()
        if command == "start":
            token = incoming.text.strip()
            if token:
                return await self.survey.open_link(incoming.address, token, language, now)
            return await self.welcome(incoming, language)
        if command == "help":
            return await self.show_help(incoming, language)
        if command == "language":
            choice = incoming.text.strip().lower()
            if choice in LANGUAGES:
                return await self.set_language(incoming, choice)
            return self.offer_languages(language)
        return [Reply(text("unknown_command", language))]

    async def welcome(self, incoming: Incoming, language: Language) -> list[Reply]:
        """Greets someone who opened the bot without a survey link; resumes a survey in progress."""
        current = await self.survey.current_question(incoming.address, language)
        return [current] if current else [Reply(text("welcome", language))]

    async def show_help(self, incoming: Incoming, language: Language) -> list[Reply]:
        """Explains the bot, then repeats the question a survey in progress waits on."""
        current = await self.survey.current_question(incoming.address, language)
        return [Reply(text("help", language)), *([current] if current else [])]

    def offer_languages(self, language: Language) -> list[Reply]:
        """Offers the languages the bot speaks."""
        options = tuple(Option(LANGUAGE_KEY + lang, text("language_name", lang)) for lang in LANGUAGES)
        return [Reply(text("choose_language", language), options, text("language_hint", language))]

    async def set_language(self, incoming: Incoming, choice: str) -> list[Reply]:
        """Remembers the chat's language and repeats the current question in it."""
        if choice not in LANGUAGES:
            return [Reply(text("stale_option", self.default_language))]
        language = language_of(choice, self.default_language)
        await self.store.set_language(incoming.address.channel, incoming.address.chat_id, language)
        current = await self.survey.current_question(incoming.address, language)
        return [Reply(text("language_set", language)), *([current] if current else [])]

    async def refuse_unsupported(self, incoming: Incoming, language: Language) -> list[Reply]:
        """Answers a photo, sticker, contact or file politely, and repeats the current question."""
        question = await self.survey.survey_step(incoming.address)
        if question is not None and question.type == "text":
            return [Reply(text("text_expected", language))]
        current = await self.survey.current_question(incoming.address, language)
        return [Reply(text("unsupported", language)), *([current] if current else [])]
