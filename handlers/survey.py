"""The citizen's survey: from the survey link to the thanks, every step stored before the reply."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from handlers.buttons import Button
from handlers.cases import CaseSettings
from handlers.chat import BUTTON_CHANNELS, Address, Option, Reply, text_length
from handlers.lateness import late
from handlers.links import CodeKind, SurveyLinks, TypedCode, read_survey_code
from handlers.privacy import ConsentAnswer
from handlers.question_set import MAX_TEXT_LENGTH, Question, QuestionSet
from handlers.question_sets import QuestionSets
from handlers.tally import NO_TALLY, Tally
from handlers.texts import LANGUAGES, Language, text
from handlers.typed import chosen, folded, typed_number
from storage.base import AlreadyAnswered, ChatRepository, DossierRepository, StaleStep, SurveyRepository
from storage.records import Answer, ChatState, Consent, Dossier, FollowUp, Rating, Survey

log = logging.getLogger(__name__)

SKIP = "skip"
AWAITING_CONSENT = "consent:"  # the chat was asked to consent before the dossier's survey
MAX_WRONG_CODES = 5  # wrong survey codes a chat may type in CODE_WINDOW
CODE_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class SurveySettings:
    cooldown_days: int = 7
    link_valid_days: int = 60
    explicit_consent: bool = False  # config privacy.consent: explicit


class SurveyOption(Button, prefix="s"):
    """An option of a survey question. It names the survey and the question, so a stale or
    replayed press, or one from another chat, is recognised."""

    survey_id: int
    question_id: str
    option_id: str


class SurveyFlow:
    """Runs surveys for any channel; the channel passes in what people sent and sends the replies."""

    def __init__(
        self,
        dossiers: DossierRepository,
        surveys: SurveyRepository,
        sets: QuestionSets,
        links: SurveyLinks,
        settings: SurveySettings,
        cases: CaseSettings,
        chats: ChatRepository | None = None,
        consent_question: Callable[[str, Language], Reply] | None = None,
        *,
        tally: Tally = NO_TALLY,
    ) -> None:
        self.dossiers = dossiers
        self.surveys = surveys
        self.sets = sets
        self.links = links
        self.settings = settings
        self.cases = cases
        self.chats = chats  # where explicit consent is asked: the chat's answer, and what it was for
        self.consent_question = consent_question
        self.tally = tally  # counts the ratings stored, the first answer of each survey

    # Entry points: `chat` is what the dispatcher read about the chat before calling.

    async def open_link(self, chat: ChatState, token: str, language: Language, now: datetime) -> list[Reply]:
        """Opens the survey a survey link (or a typed survey code) points at, or says why not."""
        code = read_survey_code(token)
        if code is not None and (replies := await self.open_code(chat, code, language, now)) is not None:
            return replies
        link_id = self.links.link_id(token)
        dossier = await self.dossiers.get_dossier_by_link(link_id) if link_id else None
        if dossier is None:
            log.info("refused a forged or unknown survey link from %s:%s", chat.channel, chat.chat_id)
            return [Reply(text("bad_link", language))]
        return await self._open(chat, dossier, language, now)

    async def answer_code(
        self, chat: ChatState, message: str, language: Language, now: datetime
    ) -> list[Reply] | None:
        """Answers a survey code typed at any step, never taking it for an answer: the survey it
        opens, or the question the survey under way waits on; None for text that is no code."""
        code = read_survey_code(message)
        return await self.open_code(chat, code, language, now) if code is not None else None

    async def open_code(
        self, chat: ChatState, code: TypedCode, language: Language, now: datetime
    ) -> list[Reply] | None:
        """Opens the survey of a typed survey code; a chat that types too many codes that can only
        be guesses waits. None when the text is no code after all: the form of a code printed
        before check characters, found for no dossier, made of words or digits only."""
        resume = self._resume(chat, language)
        if code.kind == CodeKind.MISTYPED:  # a typo in a code: said so, never counted as a guess
            return [Reply(text("wrong_code", language)), *resume]
        if (
            await self.dossiers.count_wrong_codes(chat.channel, chat.chat_id, now - CODE_WINDOW)
            >= MAX_WRONG_CODES
        ):
            return [Reply(text("too_many_codes", language)), *resume] if code.counts_when_wrong else None
        dossier = await self.dossiers.get_dossier_by_survey_code(code.code)
        if dossier is not None:
            return await self._open(chat, dossier, language, now)
        if not code.counts_when_wrong:
            return None
        await self.dossiers.record_wrong_code(chat.channel, chat.chat_id, now)
        log.info("wrong survey code from %s:%s", chat.channel, chat.chat_id)
        return [Reply(text("wrong_code", language)), *resume]

    async def _open(
        self, chat: ChatState, dossier: Dossier, language: Language, now: datetime
    ) -> list[Reply]:
        survey = chat.survey
        resume = self._resume(chat, language)
        if survey is not None and survey.dossier_id == dossier.id and resume:
            return resume  # the link or code opened again mid-survey: the question it waits on
        if dossier.answered:
            return [Reply(text("already_answered", language)), *resume]
        if dossier.erased_at is not None:  # forgotten on request: its survey is not opened again
            return [Reply(text("expired_link", language)), *resume]
        if self._needs_consent(chat) and self.chats is not None and self.consent_question is not None:
            # Nothing is kept, not even the link to the dossier, before the citizen agrees.
            await self.chats.set_awaiting(chat.channel, chat.chat_id, f"{AWAITING_CONSENT}{dossier.id}")
            return [self.consent_question(chat.channel, language)]
        if dossier.returned_at is None:
            await self.dossiers.link_chat(dossier.id, chat.channel, chat.chat_id, now)
            waiting = text("not_returned_yet", language, procedure=dossier.procedure, unit=dossier.unit_name)
            return [Reply(waiting), *resume]
        if now - dossier.returned_at > timedelta(days=self.settings.link_valid_days):
            return [Reply(text("expired_link", language)), *resume]
        address = Address(chat.channel, chat.chat_id)
        return [await self.begin(address, dossier, language, now, chat.question_sets_version)]

    def _needs_consent(self, chat: ChatState) -> bool:
        return self.settings.explicit_consent and not chat.is_person and chat.consent != Consent.GIVEN

    async def answer_consent(
        self, chat: ChatState, button: ConsentAnswer, language: Language, now: datetime
    ) -> list[Reply]:
        """The citizen's answer to the consent question: agreed, the survey (or the wait for the
        result) goes on; refused, nothing is kept but the refusal."""
        awaited = chat.awaiting or ""
        if self.chats is None or not awaited.startswith(AWAITING_CONSENT):
            return [Reply(text("stale_option", language))]
        if button.answer == "no":
            await self.chats.set_consent(chat.channel, chat.chat_id, Consent.REFUSED, now)
            return [Reply(text("consent_refused", language))]
        await self.chats.set_consent(chat.channel, chat.chat_id, Consent.GIVEN, now)
        dossier_id = typed_number(awaited.removeprefix(AWAITING_CONSENT))
        dossier = await self.dossiers.get_dossier_by_id(dossier_id) if dossier_id is not None else None
        if dossier is None:
            return [Reply(text("stale_option", language))]
        agreed = chat.model_copy(update={"consent": Consent.GIVEN, "awaiting": None})
        return await self._open(agreed, dossier, language, now)

    def _resume(self, chat: ChatState, language: Language) -> list[Reply]:
        """The question a survey under way waits on, asked again after a code that opened nothing
        else; nothing outside a survey."""
        current = self.current_question(chat, language)
        return [current] if current is not None else []

    async def begin(
        self,
        address: Address,
        dossier: Dossier,
        language: Language,
        now: datetime,
        sets_version: int | None = None,
    ) -> Reply:
        """Starts the dossier's survey in this chat: the greeting and the first question, stored
        first. `sets_version` is the question-set version read with the chat's state, if it was. A
        survey of this dossier already under way in the chat goes on where it stands, so a copy of an
        invitation sent twice (a crash between sending and recording it) works like the first."""
        question_set = await self.sets.for_dossier(dossier, sets_version)
        first = question_set.rating_question
        survey = await self.surveys.start_survey(
            channel=address.channel,
            chat_id=address.chat_id,
            dossier_id=dossier.id,
            question_set=question_set.id,
            question_set_version=question_set.version,
            first_step=first.id,
            now=now,
        )
        # The chat's survey of this dossier may have been under way, begun with another version.
        await self.sets.load(survey.question_set, survey.question_set_version)
        current = self._question(survey) or first
        greeting = text("greeting", language, procedure=dossier.procedure, unit=dossier.unit_name)
        question = self._ask(survey, current, language)
        return Reply(f"{greeting}\n\n{question.text}", question.options, question.typing_hint)

    async def answer_option(
        self, chat: ChatState, button: SurveyOption, language: Language, now: datetime
    ) -> list[Reply]:
        """Records the option a button carried, if it belongs to the question the chat is at."""
        survey = chat.survey
        question = self._question(survey) if survey else None
        if survey is None or question is None:
            return [Reply(text("stale_option", language))]
        if survey.id != button.survey_id or question.id != button.question_id:
            # An earlier question's option (its answer may never have reached the person): the
            # question the survey waits on comes with the refusal.
            return [Reply(text("stale_option", language)), self._ask(survey, question, language)]
        option_id = button.option_id
        if question.type == "text":
            if option_id != SKIP:
                return [Reply(text("stale_option", language))]
            return await self._record_text(survey, question, None, language, now)
        option = next((o for o in question.options if o.id == option_id), None)
        if option is None:
            return [Reply(text("stale_option", language))]
        return await self._record_choice(survey, question, option.id, language, now)

    async def answer_text(
        self, chat: ChatState, message: str, language: Language, now: datetime
    ) -> list[Reply]:
        """Takes typed text as the answer to the current question: free text, or an option typed
        by its number or its words."""
        survey = chat.survey
        question = self._question(survey) if survey else None
        if survey is None or question is None:
            return [Reply(text("outside_survey", language))]
        limit = question.max_length if question.type == "text" else MAX_TEXT_LENGTH
        if (length := text_length(message)) > limit:
            return [Reply(text("too_long", language, length=length, limit=limit))]
        if chat.channel not in BUTTON_CHANNELS and typed_number(folded(message).rstrip(".)")) is not None:
            # Where options are typed, a number means an option shown, and those are in the menu
            # the dispatcher looked in first: this one was never shown (its message did not go
            # through), so the question is shown, not answered.
            again = self._ask(survey, question, language)
            if question.type == "text":
                return [again]
            return [
                Reply(f"{text('choose_again', language)}\n\n{again.text}", again.options, again.typing_hint)
            ]
        if question.type == "text":
            cleaned = message.strip()
            if not cleaned:
                return [self._ask(survey, question, language)]
            if cleaned == "1" or folded(cleaned) in {folded(text("skip", lang)) for lang in LANGUAGES}:
                # "1" is the number of the one option, Skip, where options are typed
                return await self._record_text(survey, question, None, language, now)
            return await self._record_text(survey, question, cleaned, language, now)
        chosen = self._typed_option(question, message)
        if chosen is None:
            again = self._ask(survey, question, language)
            return [
                Reply(f"{text('choose_again', language)}\n\n{again.text}", again.options, again.typing_hint)
            ]
        return await self._record_choice(survey, question, chosen, language, now)

    def current_question(self, chat: ChatState, language: Language) -> Reply | None:
        """The question the chat's survey waits on, asked again; None outside a survey."""
        question = self.survey_step(chat)
        if chat.survey is None or question is None:
            return None
        return self._ask(chat.survey, question, language)

    def survey_step(self, chat: ChatState) -> Question | None:
        """The question the chat's survey waits on; None outside a survey."""
        return self._question(chat.survey) if chat.survey else None

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
                answer = await self.surveys.record_rating(
                    survey,
                    rating=option.rating,
                    option_id=option.id,
                    next_step=following.id if following else None,
                    now=now,
                    case_deadline=self.cases.deadline(now) if option.rating in self.cases.open_on else None,
                    dossier_late=late(
                        survey.due_on, survey.returned_at, survey.dossier_state, now, self.cases.zone
                    ),
                )
                self.tally.answer_stored(survey.channel)
            else:
                if survey.rating is None:
                    return [Reply(text("stale_option", language))]
                following = question_set.next_question(question.id, survey.rating)
                answer = await self.surveys.record_follow_up(
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
        return self._next(survey, following, answer, language)

    async def _record_text(
        self, survey: Survey, question: Question, message: str | None, language: Language, now: datetime
    ) -> list[Reply]:
        if survey.rating is None:
            return [Reply(text("stale_option", language))]
        following = self._set_of(survey).next_question(question.id, survey.rating)
        try:
            complaint = message is not None and question.takes_complaint
            answer = await self.surveys.record_text(
                survey,
                question.id,
                message,
                next_step=following.id if following else None,
                now=now,
                case_deadline=self.cases.deadline(now) if complaint else None,
            )
        except StaleStep:
            return [Reply(text("stale_option", language))]
        return self._next(survey, following, answer, language)

    def _next(
        self, survey: Survey, following: Question | None, answer: Answer, language: Language
    ) -> list[Reply]:
        if following is not None:
            return [self._ask(survey, following, language)]
        return [self._thanks(survey, answer, language)]

    def _thanks(self, survey: Survey, answer: Answer, language: Language) -> Reply:
        complained = answer.rating == Rating.UNSATISFIED or any(
            self._is_complaint(answer, question_id) for question_id in answer.texts
        )
        if not complained:
            return Reply(text("thanks", language))
        return Reply(text("thanks_unsatisfied", language, unit=survey.unit_name))

    def _is_complaint(self, answer: Answer, question_id: str) -> bool:
        question_set = self.sets.cached(answer.question_set, answer.question_set_version)
        question = question_set.question(question_id) if question_set else None
        return question is not None and question.takes_complaint

    # Helpers

    def _set_of(self, survey: Survey) -> QuestionSet:
        """The set the survey was begun with (the dispatcher loads it first), else the default."""
        return self.sets.cached(survey.question_set, survey.question_set_version) or self.sets.default

    def _question(self, survey: Survey) -> Question | None:
        if survey.step is None:
            return None
        return self._set_of(survey).question(survey.step)

    def _ask(self, survey: Survey, question: Question, language: Language) -> Reply:
        options: tuple[Option, ...]
        if question.type == "text":
            options = (Option(SurveyOption(survey.id, question.id, SKIP).pack(), text("skip", language)),)
            return Reply(question.text(language), options, text("text_typing_hint", language))
        options = tuple(
            Option(SurveyOption(survey.id, question.id, o.id).pack(), o.text(language))
            for o in question.options
        )
        return Reply(question.text(language), options, text("typing_hint", language))

    @staticmethod
    def _typed_option(question: Question, message: str) -> str | None:
        index = chosen([(o.text.vi, o.text.en) for o in question.options], message)
        return question.options[index].id if index is not None else None
