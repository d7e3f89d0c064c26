"""ZNS through the OA, offline with a fake client over a real database: templates filled from the
handlers' fields by the config's parameter names; every message recorded under its tracking id and
never sent twice once Zalo took it; a phone without Zalo remembered; the day's quota kept and low
enough to hold invitations back; ratings (webhook or /rating/get) taken as answers only for this
bot's rating messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.app import build_handlers, seed_directory
from bot.channels.zalo_oa.client import NoZaloAccount, QuotaExhausted, RateLimited, TemplateRejected, ZnsSent
from bot.channels.zalo_oa.zns import ZnsRatings, ZnsSender, rating_scale
from bot.config import Config, ZaloOAConfig
from handlers.template_ratings import RatingOutcome
from handlers.templates import TemplateDelivery, TemplatePurpose
from storage.records import DossierEventFacts, DossierEventType, DossierFacts, NewDossier, Rating
from storage.sqlite import SQLiteStorage
from tests.conftest import make_config

PHONE = "84901234567"
SETTINGS = ZaloOAConfig.model_validate(
    {
        "app_id": "4291",
        "oa_id": "oa1",
        "templates": {
            "rating": {"id": "rate-1", "params": {"ho_ten": "citizen_name", "ma_ho_so": "code"}},
            "apology": {"id": "apo-1", "params": {"ma_ho_so": "code", "ly_do": "reason"}},
        },
        "stars": {"satisfied": [5], "neutral": [3, 4], "unsatisfied": [1, 2]},
        "chips": {"Chờ đợi lâu": "access"},
    }
)


@dataclass
class FakeClient:
    """What ZnsSender and ZnsRatings use of ZaloOAClient; `errors` are raised in turn."""

    sent: list[tuple[str, str, dict[str, str], str]] = field(default_factory=list)
    errors: list[Exception] = field(default_factory=list)
    remaining: int = 1000
    rated: list[dict[str, Any]] = field(default_factory=list)

    async def send_template(
        self, phone: str, template_id: str, data: dict[str, str], tracking: str
    ) -> ZnsSent:
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append((phone, template_id, data, tracking))
        self.remaining -= 1
        return ZnsSent(f"zmsg-{len(self.sent)}", None, 1000, self.remaining)

    async def ratings(self, template_id: str, since: int, until: int, offset: int = 0, limit: int = 100):
        rows = self.rated[offset : offset + limit]
        return {"total": len(self.rated), "data": rows}


@pytest.fixture
async def store(tmp_path) -> Any:
    config: Config = make_config(tmp_path)
    db = SQLiteStorage(config.database)
    await db.open()
    await seed_directory(db, config)
    yield db
    await db.close()


async def test_a_template_is_filled_recorded_and_never_sent_twice(store):
    client = FakeClient()
    zns = ZnsSender(client, store.zalo_oa, SETTINGS)  # type: ignore[arg-type]
    assert zns.has_template(TemplatePurpose.RATING) and not zns.has_template(TemplatePurpose.RESOLUTION)
    fields = {"citizen_name": "Trần Văn Hùng", "code": "HS-1", "reason": "x"}
    result = await zns.send_template(TemplatePurpose.RATING, PHONE, fields, "invitation-7", dossier_id=None)
    assert (result.delivery, result.message_id) == (TemplateDelivery.SENT, "zmsg-1")
    assert client.sent == [(PHONE, "rate-1", {"ho_ten": "Trần Văn Hùng", "ma_ho_so": "HS-1"}, "invitation-7")]
    again = await zns.send_template(TemplatePurpose.RATING, PHONE, fields, "invitation-7")
    assert again.delivery == TemplateDelivery.SENT and len(client.sent) == 1  # taken before: not again
    recorded = await store.zalo_oa.zns_message("invitation-7")
    assert (recorded.purpose, recorded.msg_id, recorded.template_id) == ("rating", "zmsg-1", "rate-1")


async def test_zalo_s_refusals_become_what_the_outbox_does_with_them(store):
    client = FakeClient(errors=[
        NoZaloAccount(-118, "no account"), QuotaExhausted(-1139, "quota"),
        TemplateRejected(-1123, "too long"), RateLimited(-32, "slow down"),
    ])  # fmt: skip
    zns = ZnsSender(client, store.zalo_oa, SETTINGS)  # type: ignore[arg-type]
    send = zns.send_template
    assert (await send(TemplatePurpose.RATING, PHONE, {}, "t-1")).delivery == TemplateDelivery.NO_ACCOUNT
    # The phone is remembered: the next message to it is not tried.
    assert (await send(TemplatePurpose.APOLOGY, PHONE, {}, "t-2")).delivery == TemplateDelivery.NO_ACCOUNT
    other = "84907654321"
    assert (await send(TemplatePurpose.APOLOGY, other, {}, "t-3")).delivery == TemplateDelivery.QUOTA
    assert zns.saving_quota()  # none left today
    assert (await send(TemplatePurpose.APOLOGY, other, {}, "t-4")).delivery == TemplateDelivery.REFUSED
    assert (await send(TemplatePurpose.APOLOGY, other, {}, "t-5")).delivery == TemplateDelivery.FAILED
    assert (await send(TemplatePurpose.RESOLUTION, other, {}, "t-6")).delivery == TemplateDelivery.REFUSED


async def test_a_low_quota_is_known_after_a_restart(store):
    client = FakeClient(remaining=201)
    zns = ZnsSender(client, store.zalo_oa, SETTINGS)  # type: ignore[arg-type]
    await zns.send_template(TemplatePurpose.RATING, PHONE, {}, "t-1")
    assert not zns.saving_quota()  # 200 of 1000 left: not below a fifth
    await zns.send_template(TemplatePurpose.RATING, "84907654321", {}, "t-2")
    assert zns.saving_quota()
    restarted = ZnsSender(client, store.zalo_oa, SETTINGS)  # type: ignore[arg-type]
    assert not restarted.saving_quota()
    await restarted.load_quota()
    assert restarted.saving_quota()


async def returned_with_phone(store) -> int:
    facts = DossierFacts(code="HS-R", unit_code="Q1-BN", procedure="Chứng thực", phone=PHONE)
    (put,) = await store.dossiers.put_dossiers(
        [(facts, NewDossier(link_id="L-R", survey_code="S-R"))], actor="t", now=datetime.now(UTC)
    )
    event = DossierEventFacts(type=DossierEventType.RETURNED, at=datetime.now(UTC) - timedelta(hours=1))
    await store.dossiers.add_dossier_event("HS-R", event, actor="test", now=datetime.now(UTC))
    return put.dossier.id


async def test_ratings_from_the_webhook_or_the_fetch_become_answers_once(store, tmp_path):
    dossier_id = await returned_with_phone(store)
    client = FakeClient()
    zns = ZnsSender(client, store.zalo_oa, SETTINGS)  # type: ignore[arg-type]
    await zns.send_template(TemplatePurpose.RATING, PHONE, {}, "invitation-1", dossier_id=dossier_id)
    await zns.send_template(TemplatePurpose.APOLOGY, PHONE, {}, "letter-1", dossier_id=dossier_id)
    handlers = build_handlers(make_config(tmp_path), store)
    handlers.ratings.scale = rating_scale(SETTINGS)
    ratings = ZnsRatings(client, store.zalo_oa, SETTINGS, handlers.ratings)  # type: ignore[arg-type]
    # Another template's, a tracking id this bot never sent, an apology's: not answers.
    assert await ratings.record("other-template", "invitation-1", "m0", 1, (), "", None) is None
    assert await ratings.record("rate-1", "forged", "m1", 1, (), "", None) is None
    assert await ratings.record("rate-1", "letter-1", "m2", 1, (), "", None) is None
    assert await store.surveys.get_answer(dossier_id) is None
    client.rated = [
        {"rate": 4, "feedbacks": ["Chờ đợi lâu"], "note": "Hơi lâu", "msgId": "zmsg-1",
         "trackingId": "invitation-1", "submitDate": "1764205200000"},
        {"rate": 1, "msgId": "zmsg-1", "trackingId": "invitation-1"},  # the same message again
    ]  # fmt: skip
    now = datetime.now(UTC)
    assert await ratings.fetch(now - timedelta(days=1), now) == 1
    answer = await store.surveys.get_answer(dossier_id)
    assert answer is not None and (answer.channel, answer.rating) == (
        "zns",
        Rating.NEUTRAL,
    )  # 4 is neutral here
    assert [f.factor for f in answer.follow_ups] == ["access"]
    assert answer.answered_at == datetime(2025, 11, 27, 1, 0, tzinfo=UTC)
    late = await ratings.record("rate-1", "invitation-1", "zmsg-1", 1, (), "", None)
    assert late == RatingOutcome.ALREADY_ANSWERED


async def test_tracking_ids_carry_the_install_s_prefix_and_a_rating_must_match_its_message(store, tmp_path):
    dossier_id = await returned_with_phone(store)
    client = FakeClient()
    zns = ZnsSender(client, store.zalo_oa, SETTINGS, prefix="ab12cd-")  # type: ignore[arg-type]
    await zns.send_template(TemplatePurpose.RATING, PHONE, {}, "invitation-1", dossier_id=dossier_id)
    assert client.sent[0][3] == "ab12cd-invitation-1"
    handlers = build_handlers(make_config(tmp_path), store)
    ratings = ZnsRatings(client, store.zalo_oa, SETTINGS, handlers.ratings)  # type: ignore[arg-type]
    # Another database's message with the same tracking id (staging beside production): ignored.
    assert await ratings.record("rate-1", "ab12cd-invitation-1", "zmsg-other", 1, (), "", None) is None
    assert await ratings.record("rate-1", "invitation-1", "zmsg-9", 1, (), "", None) is None  # not ours
    done = await ratings.record("rate-1", "ab12cd-invitation-1", "zmsg-1", 1, (), "", None)
    assert done == RatingOutcome.RECORDED
