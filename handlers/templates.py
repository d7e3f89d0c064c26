"""Template messages to a citizen's phone number (Zalo's ZNS): what handlers hand to a channel that
sends approved templates, and what comes back. A template is named by its purpose (`rating`,
`apology`, `resolution`); the channel maps each purpose to its approved template and each of the
template's parameters to one of TEMPLATE_FIELDS (config `zalo_oa.templates`). Handlers give every
field they know as text; the channel picks those its template asks for.

The tracking id a template carries comes back with the citizen's rating and the delivery receipt:
it is opaque (never the phone or the dossier's code in clear)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol
from zoneinfo import ZoneInfo

from storage.records import Dossier

ZNS = "zns"  # the channel of template messages; the chat id is the phone
NO_ZNS = "no ZNS channel configured"
# The dossier fields a template's parameters may name.
TEMPLATE_FIELDS = (
    "citizen_name",
    "code",
    "procedure",
    "unit_name",
    "received_date",
    "due_date",
    "new_due_date",
    "reason",
    "resolution_note",
    "case_id",
)


class TemplatePurpose(StrEnum):
    RATING = "rating"  # the one-tap survey: 1-5 stars, chips, a note
    APOLOGY = "apology"  # the apology letter of a late dossier
    RESOLUTION = "resolution"  # how the citizen's complaint was resolved


class TemplateDelivery(StrEnum):
    SENT = "sent"
    NO_ACCOUNT = "no_account"  # the phone has no account on the platform: not tried again
    QUOTA = "quota"  # the day's quota is used up: tried again the next day
    REFUSED = "refused"  # the template or a parameter was refused: given up
    FAILED = "failed"  # a failure that may pass (network, server, rate limit): retried


@dataclass(frozen=True)
class TemplateResult:
    delivery: TemplateDelivery
    message_id: str | None = None
    error: str | None = None


class TemplateSender(Protocol):
    """A channel that sends approved template messages to phone numbers."""

    def has_template(self, purpose: TemplatePurpose) -> bool:
        """Whether a template is configured for this purpose."""
        ...

    def saving_quota(self) -> bool:
        """Whether the day's quota runs low: what matters most to citizens (apology letters,
        resolutions of complaints) goes, invitations wait for the next day."""
        ...

    async def send_template(
        self,
        purpose: TemplatePurpose,
        phone: str,
        fields: Mapping[str, str],
        tracking_id: str,
        *,
        dossier_id: int | None = None,
    ) -> TemplateResult:
        """Sends the purpose's template to `phone` (84 and the national number) with its
        parameters taken from `fields`."""
        ...


def reachable_by_zns(dossier: Dossier) -> bool:
    """Whether ZNS may reach the dossier's citizen: a phone, and no wish for another channel (nor
    for none: a channel hint `none` is a citizen who asked not to be contacted)."""
    return dossier.phone is not None and (dossier.channel_hint or "zalo") in ("zalo", "zalo_oa")


def day_text(day: date | None) -> str:
    return f"{day.day:02d}/{day.month:02d}/{day.year}" if day is not None else ""


def local_day(at: datetime | None, zone: ZoneInfo) -> date | None:
    """The local day of a time (None: none)."""
    return at.astimezone(zone).date() if at is not None else None


def dossier_fields(dossier: Dossier, zone: ZoneInfo) -> dict[str, str]:
    """The fields every template about a dossier may use (empty text for what is not recorded)."""
    return {
        "citizen_name": dossier.citizen_name or "",
        "code": dossier.code,
        "procedure": dossier.procedure,
        "unit_name": dossier.unit_name,
        "received_date": day_text(dossier.received_on or local_day(dossier.received_at, zone)),
        "due_date": day_text(dossier.due_on or local_day(dossier.due_at, zone)),
    }
