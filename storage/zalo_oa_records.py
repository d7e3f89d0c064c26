"""The records of the Zalo Official Account's repository (storage/base.py, ZaloOARepository):
the OA's token pair, webhook events taken in, ZNS messages and the ZNS quota."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from storage.records import Record


class OAToken(Record):
    """The OA's current token pair. `generation` grows with every write (the compare-and-set
    key); `seed_hash` names the ZALO_OA_REFRESH_TOKEN it came from; `rejected_at` is set when
    Zalo refused its refresh token (the pair is stranded until a new token is put in the
    environment) and cleared by the next pair written."""

    access_token: str | None
    access_expires_at: datetime | None
    refresh_token: str
    generation: int
    refreshed_at: datetime | None
    seed_hash: str
    seeded_at: datetime
    rejected_at: datetime | None = None
    rejection: str | None = None


class OAWebhookEvent(Record):
    event_key: str
    event_name: str
    received_at: datetime


class ZnsStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"


class ZnsMessage(Record):
    """A ZNS template message: `tracking_id` is ours (opaque, never the phone or the code),
    `msg_id` Zalo's once it accepted the message."""

    id: int
    purpose: str
    dossier_id: int | None
    template_id: str
    tracking_id: str
    msg_id: str | None
    phone: str
    status: ZnsStatus
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    error: str | None


class ZnsQuota(Record):
    daily: int
    remaining: int
    as_of: datetime
