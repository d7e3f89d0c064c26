"""ZaloOARepository: the OA's token pair (seeded, written by compare-and-set, marked rejected),
webhook events taken in once, ZNS messages and their receipts, phones without Zalo, the quota."""

from __future__ import annotations

import pytest

from storage.base import DuplicateZnsMessage, Storage, UnknownZnsMessage
from storage.zalo_oa_records import ZnsStatus
from tests.storage.conftest import T0, add_dossier, hours


async def refreshed(db: Storage, generation: int, n: int, at_hours: float = 1):
    return await db.zalo_oa.save_oa_token(
        generation,
        access_token=f"at-{n}",
        access_expires_at=T0 + hours(at_hours + 25),
        refresh_token=f"rt-{n}",
        now=T0 + hours(at_hours),
    )


class TestTokens:
    async def test_there_is_no_pair_before_the_first_seed(self, db: Storage):
        assert await db.zalo_oa.get_oa_token() is None

    async def test_a_seed_is_a_refresh_token_without_an_access_token(self, db: Storage):
        seeded = await db.zalo_oa.seed_oa_token("rt-env", "hash-1", T0)
        assert (seeded.refresh_token, seeded.access_token, seeded.access_expires_at) == ("rt-env", None, None)
        assert (seeded.generation, seeded.seed_hash, seeded.seeded_at) == (1, "hash-1", T0)
        assert await db.zalo_oa.get_oa_token() == seeded

    async def test_the_same_seed_again_keeps_the_refreshed_pair(self, db: Storage):
        seeded = await db.zalo_oa.seed_oa_token("rt-env", "hash-1", T0)
        pair = await refreshed(db, seeded.generation, 1)
        assert pair is not None and pair.generation == 2
        again = await db.zalo_oa.seed_oa_token("rt-env", "hash-1", T0 + hours(2))
        assert again == pair and again.access_token == "at-1" and again.refresh_token == "rt-1"

    async def test_a_new_seed_replaces_the_pair_and_clears_its_rejection(self, db: Storage):
        seeded = await db.zalo_oa.seed_oa_token("rt-env", "hash-1", T0)
        pair = await refreshed(db, seeded.generation, 1)
        assert pair is not None
        assert await db.zalo_oa.mark_oa_token_rejected(pair.generation, "-14014: used", T0 + hours(3))
        rejected = await db.zalo_oa.get_oa_token()
        assert rejected is not None and rejected.rejected_at == T0 + hours(3)
        assert rejected.rejection == "-14014: used"
        new = await db.zalo_oa.seed_oa_token("rt-new", "hash-2", T0 + hours(4))
        assert (new.refresh_token, new.access_token, new.generation) == ("rt-new", None, 3)
        assert (new.seed_hash, new.seeded_at, new.rejected_at, new.rejection) == (
            "hash-2",
            T0 + hours(4),
            None,
            None,
        )

    async def test_a_refresh_is_written_only_over_the_generation_it_read(self, db: Storage):
        seeded = await db.zalo_oa.seed_oa_token("rt-env", "hash-1", T0)
        winner = await refreshed(db, seeded.generation, 1)
        assert winner is not None
        assert (winner.access_token, winner.refresh_token, winner.generation) == ("at-1", "rt-1", 2)
        assert winner.access_expires_at == T0 + hours(26) and winner.refreshed_at == T0 + hours(1)
        assert await refreshed(db, seeded.generation, 2) is None  # read generation 1: lost
        assert await db.zalo_oa.get_oa_token() == winner
        assert not await db.zalo_oa.mark_oa_token_rejected(seeded.generation, "late", T0 + hours(2))
        assert (await db.zalo_oa.get_oa_token()) == winner

    async def test_a_refresh_clears_a_rejection(self, db: Storage):
        seeded = await db.zalo_oa.seed_oa_token("rt-env", "hash-1", T0)
        assert await db.zalo_oa.mark_oa_token_rejected(seeded.generation, "network", T0)
        pair = await refreshed(db, seeded.generation, 1)
        assert pair is not None and pair.rejected_at is None and pair.rejection is None

    async def test_nothing_is_written_before_a_seed(self, db: Storage):
        assert await refreshed(db, 0, 1) is None
        assert not await db.zalo_oa.mark_oa_token_rejected(0, "x", T0)
        assert await db.zalo_oa.get_oa_token() is None


class TestWebhookEvents:
    async def test_each_event_is_taken_in_once_and_the_last_is_known(self, db: Storage):
        assert await db.zalo_oa.last_webhook_event() is None
        assert await db.zalo_oa.record_webhook_event("msg:m1", "user_send_text", T0)
        assert not await db.zalo_oa.record_webhook_event("msg:m1", "user_send_text", T0 + hours(1))
        assert await db.zalo_oa.record_webhook_event("follow:u1:17", "follow", T0 + hours(2))
        last = await db.zalo_oa.last_webhook_event()
        assert last is not None
        assert (last.event_key, last.event_name, last.received_at) == (
            "follow:u1:17",
            "follow",
            T0 + hours(2),
        )


class TestZnsMessages:
    async def add(self, db: Storage, tracking_id: str = "t1", dossier_id: int | None = None):
        return await db.zalo_oa.add_zns_message(
            purpose="rating", dossier_id=dossier_id, template_id="412345", tracking_id=tracking_id,
            phone="84901234567", now=T0,
        )  # fmt: skip

    async def test_a_message_is_pending_then_sent_then_delivered(self, db: Storage):
        dossier = await add_dossier(db)
        pending = await self.add(db, dossier_id=dossier.id)
        assert (pending.status, pending.msg_id, pending.dossier_id, pending.purpose) == (
            ZnsStatus.PENDING, None, dossier.id, "rating",
        )  # fmt: skip
        assert await db.zalo_oa.zns_message("t1") == pending
        sent = await db.zalo_oa.mark_zns_sent("t1", "zm-1", T0 + hours(1))
        assert (sent.status, sent.msg_id, sent.sent_at) == (ZnsStatus.SENT, "zm-1", T0 + hours(1))
        assert await db.zalo_oa.zns_message_by_msg_id("zm-1") == sent
        delivered = await db.zalo_oa.record_zns_delivery("zm-1", T0 + hours(2))
        assert delivered is not None
        assert (delivered.status, delivered.delivered_at) == (ZnsStatus.DELIVERED, T0 + hours(2))
        again = await db.zalo_oa.record_zns_delivery("zm-1", T0 + hours(3))
        assert again is not None and again.delivered_at == T0 + hours(2)

    async def test_a_receipt_for_an_unknown_message_is_none(self, db: Storage):
        assert await db.zalo_oa.record_zns_delivery("nobody", T0) is None
        assert await db.zalo_oa.zns_message("nobody") is None
        assert await db.zalo_oa.zns_message_by_msg_id("nobody") is None

    async def test_a_tracking_id_is_used_once(self, db: Storage):
        await self.add(db)
        with pytest.raises(DuplicateZnsMessage, match=r"^t1$"):
            await self.add(db)

    async def test_a_failure_is_kept_with_its_error(self, db: Storage):
        await self.add(db)
        failed = await db.zalo_oa.mark_zns_failed("t1", "-1139: quota", T0)
        assert (failed.status, failed.error, failed.msg_id) == (ZnsStatus.FAILED, "-1139: quota", None)
        with pytest.raises(UnknownZnsMessage):
            await db.zalo_oa.mark_zns_failed("t2", "x", T0)
        with pytest.raises(UnknownZnsMessage):
            await db.zalo_oa.mark_zns_sent("t2", "zm", T0)


class TestPhonesAndQuota:
    async def test_a_phone_without_zalo_is_remembered(self, db: Storage):
        assert not await db.zalo_oa.phone_without_zalo("84901234567")
        await db.zalo_oa.mark_phone_without_zalo("84901234567", T0)
        await db.zalo_oa.mark_phone_without_zalo("84901234567", T0 + hours(1))
        assert await db.zalo_oa.phone_without_zalo("84901234567")
        assert not await db.zalo_oa.phone_without_zalo("84900000000")

    async def test_the_latest_quota_is_kept(self, db: Storage):
        assert await db.zalo_oa.zns_quota() is None
        await db.zalo_oa.save_zns_quota(1000, 990, T0 + hours(1))
        await db.zalo_oa.save_zns_quota(1000, 995, T0)  # an older report
        quota = await db.zalo_oa.zns_quota()
        assert quota is not None and (quota.daily, quota.remaining, quota.as_of) == (1000, 990, T0 + hours(1))
