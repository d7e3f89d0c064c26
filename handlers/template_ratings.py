"""Ratings given inside a ZNS service-rating template: 1 to 5 stars, quick-feedback chips and a
note, answered in the message itself. Each becomes the dossier's answer on channel `zns`: the stars
map to the three levels (config: 4-5 satisfied, 3 neutral, 1-2 unsatisfied by default), each chip
to a SIPAS factor, the note to the citizen's own words. An unsatisfied rating opens a case as any
answer does, and so does a note given with a rating below satisfied (a thank-you with five stars is
kept, not made a complaint). The answer's chat is the dossier's phone, so the resolution of the
case goes back by ZNS.

The same rating may arrive twice (the webhook, and the hourly fetch of ratings missed while the
bot was down); the dossier's one answer keeps it once."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from handlers.cases import CaseSettings
from handlers.chat import text_length
from handlers.lateness import late
from handlers.question_set import MAX_TEXT_LENGTH
from handlers.tally import NO_TALLY, Tally
from handlers.templates import ZNS
from storage.base import AlreadyAnswered, DossierRepository, SurveyRepository
from storage.records import FollowUp, Rating

log = logging.getLogger(__name__)

QUESTION_SET = "zns-rating"  # what the answer records as its question set
CHIPS = "chips"  # the follow-up question the chips answer
NOTE = "note"  # the text the note is stored under
DEFAULT_LEVELS: Mapping[int, Rating] = {
    1: Rating.UNSATISFIED,
    2: Rating.UNSATISFIED,
    3: Rating.NEUTRAL,
    4: Rating.SATISFIED,
    5: Rating.SATISFIED,
}


@dataclass(frozen=True)
class TemplateRating:
    """A rating as the platform reports it (a `user_feedback` event, or a row of /rating/get), for
    the dossier the channel found by the message's tracking id."""

    dossier_id: int
    stars: int
    chips: tuple[str, ...] = ()
    note: str = ""
    message_id: str = ""
    rated_at: datetime | None = None


@dataclass(frozen=True)
class RatingScale:
    levels: Mapping[int, Rating]  # stars 1..5 -> level
    factors: Mapping[str, str]  # chip text -> SIPAS factor id (a chip not listed keeps no factor)


class RatingOutcome(StrEnum):
    RECORDED = "recorded"
    ALREADY_ANSWERED = "already_answered"
    UNKNOWN_DOSSIER = "unknown_dossier"  # the dossier is gone
    NO_PHONE = "no_phone"  # the dossier has no phone: the rating cannot be the citizen's
    NOT_A_RATING = "not_a_rating"  # stars outside 1..5


class TemplateRatings:
    def __init__(
        self,
        dossiers: DossierRepository,
        surveys: SurveyRepository,
        scale: RatingScale,
        cases: CaseSettings,
        *,
        tally: Tally = NO_TALLY,
    ) -> None:
        self.dossiers = dossiers
        self.surveys = surveys
        self.scale = scale
        self.cases = cases
        self.tally = tally

    async def record(self, rating: TemplateRating, now: datetime) -> RatingOutcome:
        """Stores the rating as its dossier's answer, unless the dossier has one."""
        level = self.scale.levels.get(rating.stars)
        if level is None:
            log.warning("a ZNS rating of %s stars (message %s) ignored", rating.stars, rating.message_id)
            return RatingOutcome.NOT_A_RATING
        dossier = await self.dossiers.get_dossier_by_id(rating.dossier_id)
        if dossier is None:
            log.warning("a ZNS rating (message %s) names no dossier; ignored", rating.message_id)
            return RatingOutcome.UNKNOWN_DOSSIER
        if dossier.phone is None:
            log.warning("a ZNS rating for dossier %s, which has no phone; ignored", dossier.code)
            return RatingOutcome.NO_PHONE
        note = _clipped(rating.note.strip())
        follow_ups = [
            FollowUp(question_id=CHIPS, option_id=chip, factor=self.scale.factors.get(chip))
            for chip in dict.fromkeys(c.strip() for c in rating.chips)
            if chip
        ]
        complaint = level in self.cases.open_on or (bool(note) and level != Rating.SATISFIED)
        answered_at = min(rating.rated_at or now, now)
        try:
            await self.surveys.record_whole_answer(
                dossier.id,
                channel=ZNS,
                chat_id=dossier.phone,
                question_set=QUESTION_SET,
                rating=level,
                option_id=f"stars_{rating.stars}",
                follow_ups=follow_ups,
                texts={NOTE: note} if note else {},
                answered_at=answered_at,
                now=now,
                case_deadline=self.cases.deadline(now) if complaint else None,
                dossier_late=late(
                    dossier.due_on, dossier.returned_at, dossier.state, answered_at, self.cases.zone
                ),
            )
        except AlreadyAnswered:
            log.info("a ZNS rating for dossier %s, which has its answer already; ignored", dossier.code)
            return RatingOutcome.ALREADY_ANSWERED
        self.tally.answer_stored(ZNS)
        log.info("ZNS rating of dossier %s: %s stars (%s)", dossier.code, rating.stars, level.value)
        return RatingOutcome.RECORDED


def _clipped(note: str) -> str:
    """The note, at most as long as a typed answer may be."""
    if text_length(note) <= MAX_TEXT_LENGTH:
        return note
    return note[:MAX_TEXT_LENGTH]
