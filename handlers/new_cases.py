"""New complaints reach the unit's head as they open, not only in the next morning's digest: a
short notice with each case and its Assign button. Cases that open together (a queue at the desk,
a survey wave) wait a little and go as one message; a case waits while its citizen is still
answering, so the head reads their words too. Each case is announced once, whichever process
claims it first; the digest lists it too."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from handlers.cases import CaseDesk
from handlers.chat import Delivery, Reply, Sender
from handlers.outbox import deliver_to_head
from handlers.texts import Language, text
from storage.base import CaseRepository, ChatRepository, DirectoryRepository
from storage.records import Case, Unit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnnounceSettings:
    enabled: bool = True
    quiet: timedelta = timedelta(minutes=2)  # a unit's cases wait until none opened for this long
    max_wait: timedelta = timedelta(minutes=15)  # ...but never longer than this
    show: int = 5  # cases shown with their buttons in one notice; the rest are counted


def render_new_cases(
    desk: CaseDesk, unit: Unit, cases: Sequence[Case], show: int, language: Language, forwarded: str | None
) -> list[Reply]:
    """The notice: how many new complaints, then each (up to `show`) with its Assign button."""
    header = text("new_cases_notice", language, count=len(cases), unit=unit.name)
    if forwarded is not None:
        header = f"{text('digest_forwarded', language, unit=forwarded)}\n{header}"
    replies = [Reply(header)]
    replies += [
        Reply(desk.describe(case, language), desk.head_buttons(case, language)) for case in cases[:show]
    ]
    if len(cases) > show:
        replies.append(Reply(text("digest_more", language, count=len(cases) - show)))
    return replies


class NewCaseNotices:
    def __init__(
        self,
        cases: CaseRepository,
        directory: DirectoryRepository,
        chats: ChatRepository,
        desk: CaseDesk,
        settings: AnnounceSettings,
        default_language: Language,
    ) -> None:
        self.cases = cases
        self.directory = directory
        self.chats = chats
        self.desk = desk
        self.settings = settings
        self.default_language = default_language

    async def send(self, senders: Mapping[str, Sender], now: datetime) -> int:
        """Announces each unit's new cases once they stopped arriving; how many cases went out."""
        if not self.settings.enabled:
            return 0
        waiting: dict[str, list[Case]] = {}
        for case in await self.cases.unannounced_cases():
            waiting.setdefault(case.unit_code, []).append(case)
        if not waiting:
            return 0
        units = {u.code: u for u in await self.directory.list_units(retired=True)}
        parents = {code: u.parent_code for code, u in units.items()}
        announced = 0
        for code, cases in waiting.items():
            # More may be on their way, or a citizen is still writing: one message for them all, later.
            arriving = now - max(c.opened_at for c in cases) < self.settings.quiet
            writing = not all(c.survey_done for c in cases)
            if (arriving or writing) and now - min(c.opened_at for c in cases) < self.settings.max_wait:
                continue
            claimed = set(await self.cases.mark_announced([c.id for c in cases], now))
            mine = [c for c in cases if c.id in claimed]
            unit = units.get(code)
            if not mine or unit is None:
                continue

            def render(
                language: Language, forwarded: str | None, unit: Unit = unit, mine: list[Case] = mine
            ) -> list[Reply]:
                return render_new_cases(self.desk, unit, mine, self.settings.show, language, forwarded)

            handed = await deliver_to_head(
                self.directory, self.chats, senders, unit, parents, render, self.default_language, now
            )
            if handed.delivery != Delivery.SENT:
                # Announced once, whatever became of it: the morning digest lists every new case.
                log.warning(
                    "new cases of %s were not delivered now (%s); the morning digest lists them",
                    code, handed.delivery.value,
                )  # fmt: skip
            announced += len(mine)
        return announced
