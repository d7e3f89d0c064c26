"""`privacy forget`: an admin erases a citizen's personal data for a phone number or a dossier code,
as the citizen's own /forget would (ratings kept, anonymous; open complaints closed as withdrawn),
for example on a request made at the desk or in writing. The erasure is in `feedback-bot audit`."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from bot.cli.common import CommandError, cli_actor, with_store
from bot.config import Config
from handlers.cases import WITHDRAWN
from handlers.codes import TextRefused, typed_code
from handlers.phones import normalised_phone
from storage.base import Storage


def forget(config: Config, args: argparse.Namespace) -> int:
    """Erases the personal data of every dossier with this phone, or of this dossier."""

    async def erase(store: Storage) -> int:
        if args.phone is not None:
            try:
                phone = normalised_phone(args.phone)
            except TextRefused as exc:
                raise CommandError(f"--phone: {exc}") from exc
            ids = await store.privacy.dossiers_of_phone(phone)
            what = "phone number"
        else:
            dossier = await store.dossiers.get_dossier(typed_code(args.dossier))
            ids = [dossier.id] if dossier is not None else []
            what = "dossier code"
        if not ids:
            raise CommandError(f"no dossier with that {what}: nothing erased")
        forgotten = await store.privacy.forget_dossiers(
            ids, actor=cli_actor(), now=datetime.now(UTC), note=WITHDRAWN
        )
        print(
            f"erased the personal data of {forgotten.dossiers} dossier(s): {forgotten.answers} answer(s)"
            f" now anonymous, {forgotten.chats} chat(s) forgotten,"
            f" {len(forgotten.closed_cases)} open complaint(s) closed as withdrawn",
            file=sys.stderr,
        )
        return 0

    return with_store(config, erase)
