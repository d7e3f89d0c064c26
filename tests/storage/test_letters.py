"""LetterRepository: one apology letter for each new `extended` event, recorded with the event,
with a delivery per channel that reaches the citizen; deliveries claimed, retried and finished as
the outbox's invitations are; the lateness reads (open dossiers by due day, the lateness table)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from storage.base import Storage
from storage.records import (
    DossierAlertKind,
    DossierEventFacts,
    DossierEventType,
    DossierFacts,
    DueCutoffs,
    EventResult,
    LetterDelivery,
    LetterStatus,
    NewDossier,
    Rating,
    Role,
    UnitLateness,
)
from tests.storage.conftest import T0, entry, hours, set_people, start_survey

LEASE = timedelta(minutes=5)

DUE = date(2026, 11, 25)


async def put(
    db: Storage, code: str = "HS-1", unit: str = "Q1-BN", *, phone: str | None = None, due: date = DUE
) -> int:
    facts = DossierFacts(
        code=code, unit_code=unit, procedure="Đăng ký kết hôn", received_on=date(2026, 11, 1), due_on=due,
        citizen_name="Nguyễn Thị Lan", phone=phone,
    )  # fmt: skip
    (result,) = await db.dossiers.put_dossiers(
        [(facts, NewDossier(link_id=f"L-{code}", survey_code=f"S-{code}"))], actor="test", now=T0
    )
    return result.dossier.id


async def extend(
    db: Storage, code: str = "HS-1", at: datetime = T0, reason: str = "Chờ ý kiến Sở Tư pháp"
) -> EventResult:
    event = DossierEventFacts(
        type=DossierEventType.EXTENDED, at=at, reason=reason, new_due_at=at + timedelta(days=5)
    )
    return await db.dossiers.add_dossier_event(code, event, actor="test", now=at)


async def pending_of(db: Storage, dossier_id: int) -> list[LetterDelivery]:
    return [d for d in await db.letters.pending_letter_deliveries(limit=1000) if d.dossier_id == dossier_id]


async def returned(db: Storage, code: str, at: datetime) -> None:
    event = DossierEventFacts(type=DossierEventType.RETURNED, at=at)
    await db.dossiers.add_dossier_event(code, event, actor="test", now=at)


class TestRecording:
    async def test_an_extension_records_a_letter_to_each_linked_chat(self, db: Storage):
        dossier_id = await put(db, phone="84901234567")
        await db.dossiers.link_chat(dossier_id, "telegram", "42", T0)
        await db.dossiers.link_chat(dossier_id, "zalo", "z-1", T0)
        result = await extend(db)
        letter = result.letter
        assert letter is not None and result.recorded
        assert (letter.dossier_code, letter.unit_code, letter.reason, letter.due_on) == (
            "HS-1", "Q1-BN", "Chờ ý kiến Sở Tư pháp", DUE,
        )  # fmt: skip
        assert (letter.issued_at, letter.new_due_at, letter.rescheduled_twice) == (T0, T0 + hours(120), False)
        assert [(d.channel, d.chat_id, d.status, d.attempts) for d in letter.deliveries] == [
            ("telegram", "42", LetterStatus.PENDING, 0),
            ("zalo", "z-1", LetterStatus.PENDING, 0),
        ]  # the phone is not used when a chat reaches the citizen
        assert await db.letters.get_letter(letter.id) == letter
        assert await db.letters.letters_of_dossier(dossier_id) == [letter]

    async def test_without_a_chat_the_letter_goes_to_the_phone_by_zns(self, db: Storage):
        await put(db, phone="84901234567")
        letter = (await extend(db)).letter
        assert letter is not None
        assert [(d.channel, d.chat_id, d.status) for d in letter.deliveries] == [
            ("zns", "84901234567", LetterStatus.PENDING)
        ]

    async def test_without_chat_or_phone_the_letter_is_recorded_as_reaching_no_one(self, db: Storage):
        await put(db)
        letter = (await extend(db)).letter
        assert letter is not None
        (delivery,) = letter.deliveries
        assert (delivery.channel, delivery.status, delivery.sent_at) == (None, LetterStatus.NO_CHANNEL, T0)
        assert letter.to_print and await db.letters.pending_letter_deliveries() == []

    async def test_the_same_event_again_records_no_second_letter(self, db: Storage):
        dossier_id = await put(db)
        await db.dossiers.link_chat(dossier_id, "telegram", "42", T0)
        first = await extend(db)
        again = await extend(db)
        assert not again.recorded and again.letter is None
        assert [letter.id for letter in await db.letters.letters_of_dossier(dossier_id)] == [first.letter.id]  # type: ignore[union-attr]
        assert len(await pending_of(db, dossier_id)) == 1

    async def test_a_second_extension_is_its_own_letter_flagged(self, db: Storage):
        dossier_id = await put(db)
        await extend(db)
        second = await extend(db, at=T0 + hours(48), reason="Chờ bổ sung")
        assert second.letter is not None and second.letter.rescheduled_twice
        first, again = await db.letters.letters_of_dossier(dossier_id)
        assert (first.rescheduled_twice, again.reason) == (False, "Chờ bổ sung")

    async def test_other_events_record_no_letter(self, db: Storage):
        dossier_id = await put(db)
        await returned(db, "HS-1", T0)
        assert await db.letters.letters_of_dossier(dossier_id) == []
        assert await db.letters.get_letter(12345) is None


class TestDelivery:
    async def test_deliveries_are_read_in_the_order_recorded_a_page_at_a_time(self, db: Storage):
        for n in range(3):
            dossier_id = await put(db, f"HS-{n}")
            await db.dossiers.link_chat(dossier_id, "telegram", f"{n}", T0)
            await extend(db, f"HS-{n}")
        recorded = await db.letters.pending_letter_deliveries()
        assert [d.chat_id for d in recorded] == ["0", "1", "2"]
        assert await db.letters.pending_letter_deliveries(limit=2) == recorded[:2]
        assert await db.letters.pending_letter_deliveries(after_id=recorded[1].id) == recorded[2:]

    async def test_a_delivery_is_claimed_once_until_its_lease_ends(self, db: Storage):
        await put(db, phone="84901234567")
        await extend(db)
        (delivery,) = await db.letters.pending_letter_deliveries()
        assert await db.letters.claim_letter_delivery(delivery.id, T0, T0 + hours(1))
        assert not await db.letters.claim_letter_delivery(delivery.id, T0 + hours(0.5), T0 + hours(2))
        assert await db.letters.claim_letter_delivery(delivery.id, T0 + hours(1), T0 + hours(2))

    async def test_a_retried_delivery_waits_for_its_next_attempt(self, db: Storage):
        await put(db, phone="84901234567")
        await extend(db)
        (delivery,) = await db.letters.pending_letter_deliveries()
        assert await db.letters.retry_letter_delivery(delivery.id, "502") == 1
        assert await db.letters.retry_letter_delivery(delivery.id, "502", T0 + hours(3)) == 2
        (still,) = await db.letters.pending_letter_deliveries()
        assert (still.attempts, still.error, still.next_attempt_at) == (2, "502", T0 + hours(3))
        assert not await db.letters.claim_letter_delivery(delivery.id, T0 + hours(2), T0 + hours(4))
        assert await db.letters.claim_letter_delivery(delivery.id, T0 + hours(3), T0 + hours(4))

    @pytest.mark.parametrize("status", [s for s in LetterStatus if s != LetterStatus.PENDING])
    async def test_a_finished_delivery_is_pending_no_more(self, db: Storage, status: LetterStatus):
        await put(db, phone="84901234567")
        letter = (await extend(db)).letter
        assert letter is not None
        (delivery,) = letter.deliveries
        await db.letters.finish_letter_delivery(delivery.id, status, T0 + hours(1), "why")
        assert await db.letters.pending_letter_deliveries() == []
        assert not await db.letters.claim_letter_delivery(delivery.id, T0 + hours(5), T0 + hours(6))
        (done,) = (await db.letters.get_letter(letter.id)).deliveries  # type: ignore[union-attr]
        assert (done.status, done.sent_at, done.error, done.next_attempt_at) == (
            status, T0 + hours(1), "why", None,
        )  # fmt: skip

    async def test_letters_to_print_are_those_delivered_nowhere(self, db: Storage):
        sent_id = await put(db, "HS-SENT")
        await db.dossiers.link_chat(sent_id, "telegram", "1", T0)
        blocked_id = await put(db, "HS-BLOCKED", "Q3")
        await db.dossiers.link_chat(blocked_id, "telegram", "2", T0)
        await put(db, "HS-NONE")
        await put(db, "HS-WAITING", phone="84901234567")
        for code in ("HS-SENT", "HS-BLOCKED", "HS-NONE", "HS-WAITING"):
            await extend(db, code)
        (to_sent,) = await pending_of(db, sent_id)
        await db.letters.finish_letter_delivery(to_sent.id, LetterStatus.SENT, T0)
        (to_blocked,) = await pending_of(db, blocked_id)
        await db.letters.finish_letter_delivery(to_blocked.id, LetterStatus.UNREACHABLE, T0, "blocked")
        everything = await db.letters.list_letters()
        assert [letter.dossier_code for letter in everything] == [
            "HS-SENT",
            "HS-BLOCKED",
            "HS-NONE",
            "HS-WAITING",
        ]
        assert [letter.dossier_code for letter in await db.letters.list_letters(to_print=True)] == [
            "HS-BLOCKED", "HS-NONE",
        ]  # fmt: skip
        assert [letter.dossier_code for letter in await db.letters.list_letters(["Q3"])] == ["HS-BLOCKED"]
        assert [letter.dossier_code for letter in await db.letters.list_letters(limit=2)] == [
            "HS-NONE", "HS-WAITING",
        ]  # fmt: skip

    async def test_an_answer_records_lateness_and_whether_a_letter_was_delivered(self, db: Storage):
        dossier_id = await put(db)
        await db.dossiers.link_chat(dossier_id, "telegram", "42", T0)
        await extend(db)
        (delivery,) = await pending_of(db, dossier_id)
        await db.letters.finish_letter_delivery(delivery.id, LetterStatus.SENT, T0)
        survey = await start_survey(db, dossier_id)
        answer = await db.surveys.record_rating(
            survey, rating=Rating.NEUTRAL, option_id="n", next_step=None, now=T0, dossier_late=True
        )
        assert (answer.dossier_late, answer.letter_sent) == (True, True)
        other = await put(db, "HS-2")
        answer = await db.surveys.record_rating(
            await start_survey(db, other, "43"), rating=Rating.NEUTRAL, option_id="n", next_step=None, now=T0
        )
        assert (answer.dossier_late, answer.letter_sent) == (None, False)


class TestLatenessReads:
    async def test_open_dossiers_are_read_by_due_day(self, db: Storage):
        for code, unit, due in [
            ("A", "Q1-BN", date(2026, 11, 24)), ("B", "Q1-BN", date(2026, 11, 25)),
            ("C", "Q3", date(2026, 11, 26)), ("D", "Q1-BN", date(2026, 11, 27)),
            ("E", "Q1-BN", date(2026, 11, 26)), ("W", "Q1-BN", date(2026, 11, 26)),
        ]:  # fmt: skip
            await put(db, code, unit, due=due)
        await returned(db, "E", T0)
        withdrawn = DossierEventFacts(type=DossierEventType.WITHDRAWN, at=T0)
        await db.dossiers.add_dossier_event("W", withdrawn, actor="test", now=T0)
        await extend(db, "C")
        due = await db.letters.open_dossiers_due(
            None, due_after=date(2026, 11, 24), due_until=date(2026, 11, 26)
        )
        assert [(d.code, d.due_on, d.extended) for d in due] == [
            ("B", date(2026, 11, 25), False), ("C", date(2026, 11, 26), True),
        ]  # fmt: skip
        assert due[0].citizen_name == "Nguyễn Thị Lan" and due[0].unit_code == "Q1-BN"
        overdue = await db.letters.open_dossiers_due(["Q1-BN"], due_after=None, due_until=date(2026, 11, 26))
        assert [d.code for d in overdue] == ["A", "B"]

    async def test_the_lateness_table_counts_returns_late_returns_and_letters(self, db: Storage):
        def cut(day: date) -> DueCutoffs:  # late from the next day 00:00 UTC; letters by the day before
            start = datetime(day.year, day.month, day.day, tzinfo=T0.tzinfo)
            return DueCutoffs(late_from=start + hours(24), letter_by=start)

        on_time_return = T0 - hours(24 * 6)  # 2026-11-14
        for code, unit, due, letter_at, back in [
            ("OK", "Q1-BN", date(2026, 11, 14), None, on_time_return),
            ("LATE-ON-TIME", "Q1-BN", date(2026, 11, 15), T0 - hours(24 * 7), T0),
            ("LATE-LATE", "Q1-BN", date(2026, 11, 15), T0 - hours(24 * 5), T0),
            ("LATE-NONE", "Q3", date(2026, 11, 16), None, T0),
            ("BEFORE", "Q3", date(2026, 11, 1), None, T0 - hours(24 * 30)),
            ("OPEN", "Q3", date(2026, 11, 1), None, None),
        ]:  # fmt: skip
            await put(db, code, unit, due=due)
            if letter_at is not None:
                await extend(db, code, at=letter_at)
            if back is not None:
                await returned(db, code, back)
        start, end = T0 - hours(24 * 10), T0 + hours(1)
        assert await db.letters.returned_due_days(start, end) == (date(2026, 11, 14), date(2026, 11, 16))
        assert await db.letters.returned_due_days(T0 + hours(2), T0 + hours(3)) is None
        cutoffs = {date(2026, 11, d): cut(date(2026, 11, d)) for d in (14, 15, 16)}
        table = await db.letters.lateness(start, end, cutoffs)
        assert table == {
            "Q1-BN": UnitLateness(returned=3, returned_late=2, letters_on_time=1, letters_late=1),
            "Q3": UnitLateness(returned=1, returned_late=1, letters_missing=1),
        }
        assert await db.letters.lateness(start, end, cutoffs, ["Q3"]) == {"Q3": table["Q3"]}


class TestAlerts:
    async def test_a_second_extension_alerts_the_unit_and_the_unit_above(self, db: Storage):
        dossier_id = await put(db)
        await extend(db)
        assert await db.letters.waiting_alerts(T0, lease=LEASE) == []  # a first extension alerts nobody
        second = await extend(db, at=T0 + hours(48), reason="Chờ bổ sung")
        alerts = await db.letters.waiting_alerts(T0, lease=LEASE)
        assert [(a.kind, a.unit_code, a.dossier_id, a.letter_id) for a in alerts] == [
            (DossierAlertKind.RESCHEDULED_TWICE, "Q1-BN", dossier_id, second.letter.id),  # type: ignore[union-attr]
            (DossierAlertKind.RESCHEDULED_TWICE, "Q1", dossier_id, second.letter.id),  # type: ignore[union-attr]
        ]
        alert = alerts[0]
        assert (alert.dossier_code, alert.procedure, alert.citizen_name, alert.due_on) == (
            "HS-1", "Đăng ký kết hôn", "Nguyễn Thị Lan", DUE,
        )  # fmt: skip
        assert (alert.reason, alert.new_due_at, alert.announced_at) == ("Chờ bổ sung", T0 + hours(168), None)

    async def test_a_top_unit_rescheduled_twice_alerts_its_own_head_only(self, db: Storage):
        await put(db, unit="HCM")
        await extend(db)
        await extend(db, at=T0 + hours(48))
        assert [a.unit_code for a in await db.letters.waiting_alerts(T0, lease=LEASE)] == ["HCM"]

    async def test_an_alert_is_claimed_for_a_lease_then_finished_or_retried(self, db: Storage):
        await put(db)
        await extend(db)
        await extend(db, at=T0 + hours(48))
        ids = [a.id for a in await db.letters.waiting_alerts(T0, lease=LEASE)]
        assert await db.letters.claim_alerts(ids, T0, lease=LEASE) == ids
        assert await db.letters.claim_alerts(ids, T0 + hours(0.01), lease=LEASE) == []
        assert await db.letters.claim_alerts([], T0, lease=LEASE) == []
        assert await db.letters.waiting_alerts(T0, lease=LEASE) == []
        await db.letters.finish_alert(ids[0], "sent")
        assert await db.letters.retry_alert(ids[1], "not accepted now", T0 + hours(1)) == 1
        assert await db.letters.waiting_alerts(T0 + hours(0.5), lease=LEASE) == []  # not due yet
        (again,) = await db.letters.waiting_alerts(T0 + hours(1), lease=LEASE)
        assert (again.id, again.attempts, again.outcome) == (ids[1], 1, None)
        # A claim whose sender died is taken over once its lease ends; a finished alert never is.
        assert await db.letters.claim_alerts(ids, T0 + hours(1), lease=LEASE) == [ids[1]]
        later = T0 + hours(1) + LEASE + timedelta(seconds=1)
        assert [a.id for a in await db.letters.waiting_alerts(later, lease=LEASE)] == [ids[1]]
        assert await db.letters.claim_alerts(ids, later, lease=LEASE) == [ids[1]]

    async def test_delegating_an_extension_names_the_staff_member_and_alerts_them(self, db: Storage):
        (staff,) = await set_people(db, [entry("Q1-BN", Role.STAFF, "Trần Văn Bình")])
        dossier_id = await put(db)
        assert await db.letters.delegate_extension(dossier_id, staff.id, actor="person:1", now=T0)
        assert not await db.letters.delegate_extension(dossier_id, staff.id, actor="person:1", now=T0)
        dossier = await db.dossiers.get_dossier_by_id(dossier_id)
        assert dossier is not None and dossier.extension_delegate_id == staff.id
        (alert,) = await db.letters.waiting_alerts(T0, lease=LEASE)  # handed twice: told once
        assert (alert.kind, alert.unit_code, alert.person_id, alert.letter_id, alert.reason) == (
            DossierAlertKind.EXTENSION_DELEGATED, "Q1-BN", staff.id, None, None,
        )  # fmt: skip
        (entry_,) = [e for e in await db.audit.audit_since(None) if e.action == "extension delegated"]
        assert (entry_.actor, entry_.detail) == ("person:1", f"HS-1 to person:{staff.id}")

    async def test_delegating_an_unknown_dossier_changes_nothing(self, db: Storage):
        (staff,) = await set_people(db, [entry("Q1-BN", Role.STAFF, "Trần Văn Bình")])
        assert not await db.letters.delegate_extension(9999, staff.id, actor="person:1", now=T0)
        assert await db.letters.waiting_alerts(T0, lease=LEASE) == []


class TestLettersIssued:
    async def test_letters_are_read_by_the_time_of_their_event_and_unit(self, db: Storage):
        await put(db, "HS-1")
        await put(db, "HS-2", unit="Q3")
        await put(db, "HS-3")
        first = await extend(db, "HS-1", at=T0)
        second = await extend(db, "HS-2", at=T0 + hours(2))
        await extend(db, "HS-3", at=T0 + hours(30))
        ids = [letter.id for letter in await db.letters.letters_issued(T0, T0 + hours(24))]
        assert ids == [first.letter.id, second.letter.id]  # type: ignore[union-attr]
        only = await db.letters.letters_issued(T0, T0 + hours(24), ["Q3"])
        assert [letter.dossier_code for letter in only] == ["HS-2"]
        assert await db.letters.letters_issued(T0 + hours(2) + timedelta(seconds=1), T0 + hours(24), []) == []
