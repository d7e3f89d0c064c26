"""The apology letter as a one-page A4 PDF, for the one-stop desk to print, sign and hand over: laid
out as Vietnamese administrative letters are (the unit top left, the national title and motto top
right, the date under them, the title, the body, the signature block on the right).

The words are render_letter's (handlers/letters.py). The font is DejaVu Sans, shipped in bot/fonts
(licence there): it has every precomposed Vietnamese letter, so text in Unicode's composed form (NFC)
needs no shaping. A letter too long for the page is set smaller, down to MIN_SIZE, then refused."""

from __future__ import annotations

import unicodedata
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from handlers.letters import LetterContent, LetterText, letter_text
from handlers.texts import Language

FONTS = Path(__file__).resolve().parent / "fonts"
FAMILY = "DejaVuSans"
# Margins of Vietnamese administrative documents (Decree 30/2020/NĐ-CP: left 30-35 mm, right 15-20,
# top and bottom 20-25), a little narrower on the left for a letter.
LEFT, RIGHT, TOP, BOTTOM = 25.0, 20.0, 20.0, 20.0
LEFT_COLUMN = 70.0  # the unit's name; the national title, the date and the signature take the rest
SIZES = (13.0, 12.5, 12.0, 11.5, 11.0, 10.5, 10.0, 9.5, 9.0)  # body text, in points, tried in turn
MIN_SIZE = SIZES[-1]
POINT = 25.4 / 72  # millimetres
SIGNING_SPACE = 22.0  # mm left blank for the signature and the seal


class LetterTooLong(ValueError):
    """The letter does not fit one A4 page even in the smallest type."""


def write_letter_pdf(
    content: LetterContent, language: Language, path: Path, template: str | None = None
) -> None:
    """Writes the letter to `path` as a one-page A4 PDF; raises LetterTooLong (nothing written) when it
    does not fit, and OSError when the file cannot be written."""
    parts = letter_text(content, language, template)
    data = None
    for size in SIZES:
        pdf = _laid_out(parts, language, size)
        try:
            if pdf.page_no() == 1:
                data = bytes(pdf.output())
                break
        finally:
            _close_fonts(pdf)
    if data is None:
        raise LetterTooLong(
            f"the letter does not fit one A4 page even in {MIN_SIZE:g} pt type: shorten the reason or "
            "the letter template (letters.template in the config)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _laid_out(parts: LetterText, language: Language, size: float) -> FPDF:
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.add_font(FAMILY, "", FONTS / "DejaVuSans.ttf")
    pdf.add_font(FAMILY, "B", FONTS / "DejaVuSans-Bold.ttf")
    pdf.set_margins(LEFT, TOP, RIGHT)
    pdf.set_auto_page_break(True, margin=BOTTOM)
    pdf.set_title(_nfc(parts.title))
    pdf.set_lang(language)
    pdf.set_creator("feedback-bot")
    pdf.add_page()
    line = size * POINT * 1.45
    small = min(size, 11.5)  # the heading's lines stay on one line each in their columns
    right_x = LEFT + LEFT_COLUMN
    right_width = pdf.w - RIGHT - right_x

    def column(x: float, width: float, words: str, points: float, style: str = "") -> None:
        pdf.set_font(FAMILY, style, points)
        pdf.set_x(x)
        pdf.multi_cell(width, points * POINT * 1.35, _nfc(words), align="C", new_x=XPos.LEFT,
                       new_y=YPos.NEXT)  # fmt: skip

    def rule_under(x: float, width: float, length: float) -> None:
        y = pdf.get_y() + 0.8
        pdf.set_line_width(0.25)
        pdf.line(x + (width - length) / 2, y, x + (width + length) / 2, y)
        pdf.set_y(y + 1)

    pdf.set_y(TOP)
    column(LEFT, LEFT_COLUMN, parts.unit.upper(), small, "B")
    rule_under(LEFT, LEFT_COLUMN, LEFT_COLUMN / 3)
    left_end = pdf.get_y()
    pdf.set_y(TOP)
    column(right_x, right_width, parts.nation, small, "B")
    column(right_x, right_width, parts.motto, small, "B")
    rule_under(right_x, right_width, pdf.get_string_width(_nfc(parts.motto)))
    pdf.set_y(max(left_end, pdf.get_y()) + line * 0.6)
    column(right_x, right_width, parts.dated, size)

    pdf.set_y(pdf.get_y() + line)
    column(LEFT, pdf.epw, parts.title, size + 3, "B")
    pdf.set_y(pdf.get_y() + line)
    pdf.set_font(FAMILY, "", size)
    pdf.multi_cell(0, line, _nfc(parts.body), align="J", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    pdf.set_y(pdf.get_y() + line)
    column(right_x, right_width, parts.signer_title.upper(), size, "B")
    pdf.set_y(pdf.get_y() + SIGNING_SPACE)
    if parts.signer_name:
        column(right_x, right_width, parts.signer_name, size, "B")
    return pdf


def _close_fonts(pdf: FPDF) -> None:
    """fpdf2 reads a font file lazily and closes it when the PDF is output; a layout tried and
    dropped (too long at this size) must close its own."""
    for font in pdf.fonts.values():
        close = getattr(font, "close", None)
        if close is not None:
            close()


def _nfc(words: str) -> str:
    """Accents typed separately, composed: the font draws composed letters, and a separate accent
    without shaping would sit beside its letter rather than on it."""
    return unicodedata.normalize("NFC", words)
