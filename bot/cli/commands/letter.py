"""`dossier letter`: the apology letter (Thư xin lỗi) for a dossier that will be returned late, from
its latest extension: printed as text (for a chat, an SMS, an email) and written as a PDF for the
desk to print, sign and hand over. Nothing is stored."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from bot.cli.commands.dossier import check_writable
from bot.cli.common import CommandError, today, with_store
from bot.cli.output import emit
from bot.config import Config
from bot.letter_pdf import LetterTooLong, write_letter_pdf
from handlers.codes import typed_code
from handlers.letters import letter_content, render_letter
from handlers.texts import Language
from storage.base import Storage
from storage.records import Dossier, DossierEvent, DossierEventType, Person, Unit

Found = tuple[Dossier | None, DossierEvent | None, list[Unit], list[Person]]


def write_letter(config: Config, args: argparse.Namespace) -> int:
    """Writes the apology letter for the dossier's latest extension as a PDF and prints its text."""
    check_writable(args.pdf, "the letter", ".pdf")
    code = typed_code(args.code)
    language: Language = args.language or config.language

    async def find(store: Storage) -> Found:
        dossier = await store.dossiers.get_dossier(code)
        if dossier is None:
            return None, None, [], []
        events = await store.dossiers.list_dossier_events(dossier.id)  # in order of time
        extensions = [e for e in events if e.type is DossierEventType.EXTENDED]
        # Retired units too: a retired unit's dossier is signed by the head of the unit it was under.
        units = await store.directory.list_units(retired=True)
        people = await store.directory.all_people()
        return dossier, extensions[-1] if extensions else None, units, people

    dossier, extension, units, people = with_store(config, find)
    if dossier is None:
        raise CommandError(f"no dossier {code!r} is recorded (see: feedback-bot dossier list)")
    if extension is None:
        raise CommandError(
            f"dossier {dossier.code} has no extension recorded, so no apology letter: record one with "
            "feedback-bot dossier extend, or the intake API's extended event (reason, new_due_at)"
        )
    day = today(config, datetime.now(UTC))
    try:
        content = letter_content(dossier, extension, units, people, config.zone, day, language=language)
    except ValueError as exc:  # an extension stored without its reason or new date
        raise CommandError(f"dossier {dossier.code}: {exc}") from exc
    template = config.letters.template_for(language)
    try:
        write_letter_pdf(content, language, args.pdf, template)
    except LetterTooLong as exc:
        raise CommandError(str(exc)) from exc
    except OSError as exc:
        raise CommandError(f"cannot write the letter to {args.pdf}: {exc.strerror}") from exc
    emit(render_letter(content, language, template) + "\n")
    print(f"letter written to {args.pdf}", file=sys.stderr)
    return 0
