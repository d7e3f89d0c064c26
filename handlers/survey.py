"""The citizen's survey: from the survey link to the thanks, every step stored before the reply."""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from handlers.chat import Address, Option, Reply
from handlers.links import SurveyLinks
from handlers.question_set import MAX_TEXT_LENGTH, Question, QuestionSet
from handlers.texts import Language, text
from storage.base import AlreadyAnswered, StaleStep, Storage
from storage.records import Answer, Dossier, FollowUp, Rating, Survey

log = logging.getLogger(__name__)

SKIP = "skip"


@dataclass(frozen=True)
class SurveySettings:
    cooldown_days: int = 7
    link_valid_days: int = 60


def option_key(survey: Survey, question_id: str, option_id: str) -> str:
    """The key a survey option carries; it names the survey and question, so a stale or
    replayed press is recognised. At most 64 bytes, Telegram's limit for callback data."""
    return f"s{survey.id}.{question_id}.{option_id}"


def parse_option_key(key: str) -> tuple[int, str, str] | None:
    parts = key.split(".")
    if len(parts) != 3 or not parts[0].startswith("s") or not parts[0][1:].isdigit():
        return None
    return int(parts[0][1:]), parts[1], parts[2]


def folded(value: str) -> str:
    """Text compared loosely: no diacritics, case or extra spaces ("Không hài lòng" ~ "khong hai long")."""
    decomposed = unicodedata.normalize("NFD", value.replace("đ", "d").replace("Đ", "D"))
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.casefold().split())


class SurveyFlow:
    """Runs surveys for any channel; the channel passes in what people sent and sends the replies."""

    def __init__(
        self,
        store: Storage,
        question_set: QuestionSet,
        links: SurveyLinks,
        settings: SurveySettings,
        earlier_sets: Mapping[tuple[str, int], QuestionSet] | None = None,
    ) -> None:
        self.store = store
        self.question_set = question_set
        self.links = links
        self.settings = settings
        self._sets = {(question_set.id, question_set.version): question_set, **(earlier_sets or {})}

    # Entry points

    async def open_link(self, address: Address, token: str, language: Language, now: datetime) -> list[Reply]:
        """Opens the survey a survey link points at, or says why it cannot be opened."""
        link_id = self.links.link_id(token)
        dossier = await self.store.get_dossier_by_link(link_id) if link_id else None
        if dossier is None:
            log.info("refused a forged or unknown survey link from %s:%s", address.channel, address.chat_id)
            return [Reply(text("bad_link", language))]
        survey = await self.store.get_survey(address.channel, address.chat_id)
        if survey is not None and survey.dossier_id == dossier.id and survey.step is not None:
            current = self._question(survey)
            if current is not None:
                return [self._ask(survey, current, language)]  # the link opened again mid-survey
        if await self.store.get_answer(dossier.id):
            return [Reply(text("already_answered", language))]
        unit = await self.store.get_unit(dossier.unit_code)
        unit_name = unit.name if unit else dossier.unit_code
        if dossier.returned_at is None:
            await self.store.link_chat(dossier.id, address.channel, address.chat_id, now)
            return [Reply(text("not_returned_yet", language, procedure=dossier.procedure, unit=unit_name))]
        if now - dossier.returned_at > timedelta(days=self.settings.link_valid_days):
            return [Reply(text("expired_link", language))]
        return [await self.begin(address, dossier, language, now, unit_name)]

    async def begin(
        self,
        address: Address,
        dossier: Dossier,
        language: Language,
        now: datetime,
        unit_name: str | None = None,
    ) -> Reply:
        """Starts the dossier's survey in this chat: the greeting and the first question, stored first."""
        if unit_name is None:
            unit = await self.store.get_unit(dossier.unit_code)
            unit_name = unit.name if unit else dossier.unit_code
        first = self.question_set.rating_question
        survey = await self.store.start_survey(
            channel=address.channel,
            chat_id=address.chat_id,
            dossier_id=dossier.id,
            question_set=self.question_set.id,
            question_set_version=self.question_set.version,
            first_step=first.id,
            now=now,
        )
        greeting = text("greeting", language, procedure=dossier.procedure, unit=unit_name)
        question = self._ask(survey, first, language)
        return Reply(f"{greeting}\n\n{question.text}", question.options, question.typing_hint)

    async def answer_option(
        self, address: Address, key: str, language: Language, now: datetime
    ) -> list[Reply]:
        """Records the option a button carried, if it belongs to the question the chat is at."""
        parsed = parse_option_key(key)
        survey = await self.store.get_survey(address.channel, address.chat_id)
        if parsed is None or survey is None:
            return [Reply(text("stale_option", language))]
        survey_id, question_id, option_id = parsed
        question = self._question(survey)
        if survey.id != survey_id or question is None or question.id != question_id:
            return [Reply(text("stale_option", language))]
        if question.type == "text":
            if option_id != SKIP:
                return [Reply(text("stale_option", language))]
            return await self._record_text(survey, question, None, language, now)
        option = next((o for o in question.options if o.id == option_id), None)
        if option is None:
            return [Reply(text("stale_option", language))]
        return await self._record_choice(survey, question, option.id, language, now)

    async def answer_text(
        self, address: Address, message: str, language: Language, now: datetime
    ) -> list[Reply]:
        """Takes typed text as the answer to the current question: free text, or an option typed
        by its number or its words."""
        survey = await self.store.get_survey(address.channel, address.chat_id)
        question = self._question(survey) if survey else None
        if survey is None or question is None:
            return [Reply(text("outside_survey", language))]
        limit = question.max_length if question.type == "text" else MAX_TEXT_LENGTH
        if len(message) > limit:
            return [Reply(text("too_long", language, length=len(message), limit=limit))]
        if question.type == "text":
            cleaned = message.strip()
            if not cleaned:
                return [self._ask(survey, question, language)]
            if cleaned == "1" or folded(cleaned) in {folded(text("skip", lang)) for lang in ("vi", "en")}:
                # "1" is the number of the one option, Skip, where options are typed
                return await self._record_text(survey, question, None, language, now)
            return await self._record_text(survey, question, cleaned, language, now)
        chosen = self._typed_option(question, message, language)
        if chosen is None:
            again = self._ask(survey, question, language)
            return [
                Reply(f"{text('choose_again', language)}\n\n{again.text}", again.options, again.typing_hint)
            ]
        return await self._record_choice(survey, question, chosen, language, now)

    async def current_question(self, address: Address, language: Language) -> Reply | None:
        """The question the chat's survey waits on, asked again; None outside a survey."""
        survey = await self.store.get_survey(address.channel, address.chat_id)
        question = self._question(survey) if survey else None
        if survey is None or question is None:
            return None
        return self._ask(survey, question, language)

    async def survey_step(self, address: Address) -> Question | None:
        survey = await self.store.get_survey(address.channel, address.chat_id)
        return self._question(survey) if survey else None

    # Steps

    async def _record_choice(
        self, survey: Survey, question: Question, option_id: str, language: Language, now: datetime
    ) -> list[Reply]:
        question_set = self._set_of(survey)
        option = next(o for o in question.options if o.id == option_id)
        try:
            if question.type == "rating":
                assert option.rating is not None
                following = question_set.next_question(question.id, option.rating)
                answer = await self.store.record_rating(
                    survey,
                    rating=option.rating,
                    option_id=option.id,
                    next_step=following.id if following else None,
                    now=now,
                )
            else:
                previous = await self.store.get_answer(survey.dossier_id)
                if previous is None:
                    return [Reply(text("stale_option", language))]
                following = question_set.next_question(question.id, previous.rating)
                answer = await self.store.record_follow_up(
                    survey,
                    FollowUp(
                        question_id=question.id,
                        option_id=option.id,
                        factor=option.factor.value if option.factor else None,
                    ),
                    next_step=following.id if following else None,
                    now=now,
                )
        except AlreadyAnswered:
            return [Reply(text("already_answered", language))]
        except StaleStep:
            return [Reply(text("stale_option", language))]
        return await self._next(survey, following, answer, language)

    async def _record_text(
        self, survey: Survey, question: Question, message: str | None, language: Language, now: datetime
    ) -> list[Reply]:
        previous = await self.store.get_answer(survey.dossier_id)
        if previous is None:
            return [Reply(text("stale_option", language))]
        following = self._set_of(survey).next_question(question.id, previous.rating)
        try:
            answer = await self.store.record_text(
                survey, question.id, message, next_step=following.id if following else None, now=now
            )
        except StaleStep:
            return [Reply(text("stale_option", language))]
        return await self._next(survey, following, answer, language)

    async def _next(
        self, survey: Survey, following: Question | None, answer: Answer, language: Language
    ) -> list[Reply]:
        if following is not None:
            return [self._ask(survey, following, language)]
        return [await self._thanks(answer, language)]

    async def _thanks(self, answer: Answer, language: Language) -> Reply:
        complained = answer.rating == Rating.UNSATISFIED or any(
            self._is_complaint(answer, question_id) for question_id in answer.texts
        )
        if not complained:
            return Reply(text("thanks", language))
        dossier = await self.store.get_dossier_by_id(answer.dossier_id)
        unit = await self.store.get_unit(dossier.unit_code) if dossier else None
        return Reply(text("thanks_unsatisfied", language, unit=unit.name if unit else ""))

    def _is_complaint(self, answer: Answer, question_id: str) -> bool:
        question_set = self._sets.get((answer.question_set, answer.question_set_version))
        question = question_set.question(question_id) if question_set else None
        return question is not None and Rating.SATISFIED not in question.show_for

    # Helpers

    def _set_of(self, survey: Survey) -> QuestionSet:
        return self._sets.get((survey.question_set, survey.question_set_version), self.question_set)

    def _question(self, survey: Survey) -> Question | None:
        if survey.step is None:
            return None
        return self._set_of(survey).question(survey.step)

    def _ask(self, survey: Survey, question: Question, language: Language) -> Reply:
        options: tuple[Option, ...]
        if question.type == "text":
            options = (Option(option_key(survey, question.id, SKIP), text("skip", language)),)
        else:
            options = tuple(
                Option(option_key(survey, question.id, o.id), o.text(language)) for o in question.options
            )
        return Reply(question.text(language), options, text("typing_hint", language))

    @staticmethod
    def _typed_option(question: Question, message: str, language: Language) -> str | None:
        typed = folded(message).rstrip(".)")
        if typed.isdigit() and 1 <= int(typed) <= len(question.options):
            return question.options[int(typed) - 1].id
        for option in question.options:
            if typed in {folded(option.text.vi), folded(option.text.en)}:
                return option.id
        return None
