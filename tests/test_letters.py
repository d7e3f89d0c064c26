"""Apology letters for late dossiers: what the letter says (Decision 5157/QĐ-UBND's list), who signs
it, an admin's template, the printed PDF read back, and `feedback-bot dossier letter`."""

from __future__ import annotations

import asyncio
import unicodedata
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from pypdf import PdfReader

from bot.app import opened_storage
from bot.cli import main
from bot.config import ConfigError, load_config
from bot.letter_pdf import LetterTooLong, write_letter_pdf
from handlers.letters import (
    PLACEHOLDERS,
    LetterContent,
    check_letter_template,
    letter_content,
    render_letter,
)
from handlers.texts import CATALOG, Language
from storage.records import (
    Contact,
    Dossier,
    DossierEvent,
    DossierEventFacts,
    DossierEventType,
    DossierFacts,
    NewDossier,
    Person,
    Role,
    Unit,
)
from tests.cli_support import write_config

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
TODAY = date(2026, 11, 18)
REASON = "Thiếu chữ ký xác nhận của cơ quan thuế"
DIRECTORY = [
    Unit(code="Q1", name="UBND Quận 1"),
    Unit(code="Q1-BN", name="UBND Phường Bến Nghé", parent_code="Q1"),
    Unit(code="Q1-BN-T1", name="Tổ một cửa Bến Nghé", parent_code="Q1-BN"),
]
A4 = (595.28, 841.89)  # points


def person(n: int, unit: str, role: Role, name: str, *, active: bool = True) -> Person:
    contact = Contact(channel="telegram", chat_id=str(n))
    return Person(id=n, unit_code=unit, role=role, name=name, contacts=(contact,), active=active)


PEOPLE = [
    person(1, "Q1", Role.HEAD, "Nguyễn Văn A"),
    person(2, "Q1-BN", Role.STAFF, "Phạm Thị D"),
    person(3, "Q1-BN", Role.HEAD, "Lê Văn C"),
]


def dossier(**changes: object) -> Dossier:
    given: dict[str, object] = {
        "id": 7,
        "code": "000.00.15.H29-261102-0001",
        "unit_code": "Q1-BN",
        "unit_name": "UBND Phường Bến Nghé",
        "procedure": "Đăng ký khai sinh",
        "received_at": datetime(2026, 11, 2, 1, 30, tzinfo=UTC),
        "received_on": date(2026, 11, 2),
        "due_at": datetime(2026, 11, 20, 10, 0, tzinfo=UTC),
        "due_on": date(2026, 11, 20),
        "citizen_name": "Nguyễn Thị Mai",
        "state": DossierEventType.EXTENDED,
        "link_id": "L7",
        "created_at": datetime(2026, 11, 2, 1, 30, tzinfo=UTC),
    }
    return Dossier.model_validate({**given, **changes})


def extension(reason: str = REASON, **changes: object) -> DossierEvent:
    given: dict[str, object] = {
        "id": 3,
        "dossier_id": 7,
        "type": DossierEventType.EXTENDED,
        "at": datetime(2026, 11, 18, 2, 0, tzinfo=UTC),
        "reason": reason,
        # 06:00 in Hanoi on the 27th is still the 26th in UTC: the day is the local one.
        "new_due_at": datetime(2026, 11, 26, 23, 0, tzinfo=UTC),
        "recorded_at": datetime(2026, 11, 18, 2, 0, tzinfo=UTC),
        "recorded_by": "api:one-stop",
    }
    return DossierEvent.model_validate({**given, **changes})


def content(language: Language = "vi", people: list[Person] = PEOPLE, **changes: object) -> LetterContent:
    return letter_content(dossier(**changes), extension(), DIRECTORY, people, ZONE, TODAY, language=language)


def words(text: str) -> str:
    """Text with its runs of white space made one space: justified lines come back with wide gaps."""
    return " ".join(text.split())


# What the letter holds.


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "vi",
            [
                "Kính gửi Ông/Bà Nguyễn Thị Mai,",
                "Thủ tục: Đăng ký khai sinh",
                "Mã hồ sơ: 000.00.15.H29-261102-0001",
                "Ngày tiếp nhận: 02/11/2026",
                "Ngày hẹn trả kết quả: 20/11/2026",
                "Tình trạng hiện nay: đang được giải quyết",
                f"Lý do: {REASON}",
                "vào ngày 27/11/2026",
                "thành thật xin lỗi Ông/Bà",
                "Thủ trưởng UBND Phường Bến Nghé\nLê Văn C",
                "THƯ XIN LỖI\nNgày 18/11/2026\n",
            ],
        ),
        (
            "en",
            [
                "Dear Nguyễn Thị Mai,",
                "Procedure: Đăng ký khai sinh",
                "Application code: 000.00.15.H29-261102-0001",
                "Received on: 2 November 2026",
                "Result promised for: 20 November 2026",
                "Where it stands: being processed",
                f"Reason: {REASON}",
                "ready on 27 November 2026",
                "We sincerely apologise for the delay",
                "Head of UBND Phường Bến Nghé\nLê Văn C",
                "LETTER OF APOLOGY\n18 November 2026\n",
            ],
        ),
    ],
)
def test_the_letter_says_what_the_decision_asks_in_either_language(language: Language, expected: list[str]):
    made = content(language)
    assert made.new_due_on == date(2026, 11, 27) and made.written_on == TODAY
    letter = render_letter(made, language)
    for part in expected:
        assert part in letter
    assert "UBND Phường Bến Nghé" in letter.split("\n\n", 2)[2]  # the unit is named in the body
    assert letter == unicodedata.normalize("NFC", letter)


def test_a_citizen_without_a_name_is_greeted_without_one():
    assert "\nKính gửi Ông/Bà,\n" in render_letter(content(citizen_name=None), "vi")
    assert "\nDear Sir or Madam,\n" in render_letter(content("en", citizen_name=None), "en")


def test_days_not_recorded_are_said_so():
    letter = render_letter(content(received_on=None, received_at=None, due_on=None, due_at=None), "vi")
    assert "Ngày tiếp nhận: chưa ghi nhận" in letter and "Ngày hẹn trả kết quả: chưa ghi nhận" in letter


def test_a_day_missing_is_taken_from_the_time_in_the_zone():
    # received at 23:30 UTC on 1 November: 2 November in Ho Chi Minh City
    made = content(received_on=None, received_at=datetime(2026, 11, 1, 23, 30, tzinfo=UTC))
    assert made.received_on == date(2026, 11, 2)


@pytest.mark.parametrize(
    ("state", "returned", "phrase"),
    [
        (None, False, "đang được giải quyết"),
        (DossierEventType.SUPPLEMENT_RECEIVED, False, "đang được giải quyết"),
        (DossierEventType.SUPPLEMENT_REQUESTED, False, "chờ bổ sung hồ sơ"),
        (DossierEventType.SUSPENDED, False, "tạm dừng giải quyết"),
        (DossierEventType.EXTENDED, True, "đã trả kết quả"),
    ],
)
def test_where_the_dossier_stands_comes_from_its_latest_event(state, returned, phrase):
    at = datetime(2026, 11, 28, 2, 0, tzinfo=UTC) if returned else None
    assert content(state=state, returned_at=at).state == phrase


def test_only_an_extension_makes_a_letter():
    event = extension(type=DossierEventType.SUPPLEMENT_REQUESTED, new_due_at=None, until=date(2026, 11, 25))
    with pytest.raises(ValueError, match="extended"):
        letter_content(dossier(), event, DIRECTORY, PEOPLE, ZONE, TODAY)


# Who signs.


def test_the_head_of_the_dossiers_unit_signs():
    made = content()
    assert (made.signer_name, made.signer_title) == ("Lê Văn C", "Thủ trưởng UBND Phường Bến Nghé")


def test_without_a_head_the_nearest_head_above_signs_for_their_own_unit():
    below = content(unit_code="Q1-BN-T1", unit_name="Tổ một cửa Bến Nghé")
    assert (below.signer_name, below.signer_title) == ("Lê Văn C", "Thủ trưởng UBND Phường Bến Nghé")
    gone = [*PEOPLE[:2], person(3, "Q1-BN", Role.HEAD, "Lê Văn C", active=False)]
    made = content("en", people=gone)
    assert (made.signer_name, made.signer_title) == ("Nguyễn Văn A", "Head of UBND Quận 1")
    assert made.unit_name == "UBND Phường Bến Nghé"  # the letter is still the ward's
    assert render_letter(made, "en").endswith("Head of UBND Quận 1\nNguyễn Văn A")


def test_with_no_head_at_all_the_letter_is_signed_by_the_title():
    staff_only = [PEOPLE[1]]
    made = content(people=staff_only)
    assert made.signer_name is None and made.signer_title == "Thủ trưởng UBND Phường Bến Nghé"
    assert render_letter(made, "vi").endswith("\n\nThủ trưởng UBND Phường Bến Nghé")
    assert content("en", people=[]).signer_title == "Head of UBND Phường Bến Nghé"


# An admin's template.

TEMPLATE = (
    "Kính gửi {citizen}: hồ sơ «{procedure}» ({code}), nhận ngày {received}, {state}.\n"
    "Lý do chậm: {reason}. Hẹn mới: {new_due} (hẹn cũ {due}). {{{unit}}} — {signer}, {signer_title}, {date}."
)


def test_a_template_replaces_the_catalogs_body():
    letter = render_letter(content(), "vi", TEMPLATE)
    assert (
        "Kính gửi Ông/Bà Nguyễn Thị Mai: hồ sơ «Đăng ký khai sinh» (000.00.15.H29-261102-0001), nhận ngày "
        "02/11/2026, đang được giải quyết.\nLý do chậm: Thiếu chữ ký xác nhận của cơ quan thuế. Hẹn mới: "
        "27/11/2026 (hẹn cũ 20/11/2026). {UBND Phường Bến Nghé} — Lê Văn C, Thủ trưởng UBND Phường Bến "
        "Nghé, 18/11/2026."
    ) in letter
    assert letter.startswith("THƯ XIN LỖI\nNgày 18/11/2026\n\n") and letter.endswith("\nLê Văn C")


def test_a_reason_with_braces_is_written_as_given():
    made = letter_content(dossier(), extension("Thiếu {tờ khai} mẫu 01"), DIRECTORY, PEOPLE, ZONE, TODAY)
    assert "Lý do: Thiếu {tờ khai} mẫu 01" in render_letter(made, "vi", None)


def test_the_catalogs_letters_pass_their_own_check():
    for language in ("vi", "en"):
        check_letter_template(CATALOG["apology_letter"][language])
    check_letter_template(TEMPLATE)
    assert set(PLACEHOLDERS) >= {"citizen", "procedure", "code", "received", "state", "reason", "new_due"}


@pytest.mark.parametrize(
    ("template", "named"),
    [
        ("{citizen} {procedure} {code} {received} {state} {reason} {new_due} {ngay_hen}", "{ngay_hen}"),
        ("{citizen} {procedure} {code} {received} {state} {reason} {new_due} {}", "{}"),
        ("{citizen} {procedure} {code} {received} {state} {reason} {new_due} {code.upper}", "{code.upper}"),
        ("{citizen} {procedure} {code} {received} {state} {reason} {new_due} {", "unpaired braces"),
        ("{citizen} {procedure} {code} {received} {state} {reason} {new_due} }", "unpaired braces"),
        ("{citizen} {procedure} {code:>30} {received} {state} {reason} {new_due}", "{code} in the letter"),
        ("{citizen} {procedure} {code} {received} {state} {reason!r} {new_due}", "{reason} in the letter"),
        ("Kính gửi {citizen}: {code}, {procedure}, {received}, {state}.", "leaves out {reason}, {new_due}"),
        ("  \n", "empty"),
    ],
)
def test_a_wrong_template_is_refused_naming_what_is_wrong(template: str, named: str):
    with pytest.raises(ValueError) as refused:
        check_letter_template(template)
    assert named in str(refused.value)
    with pytest.raises(ValueError):
        render_letter(content(), "vi", template)


def test_the_config_takes_templates_and_refuses_a_wrong_placeholder_naming_the_key(tmp_path: Path):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"letters": {"template": {"en": TEMPLATE}}}, allow_unicode=True), "utf-8")
    config = load_config(path)
    assert config.letters.template_for("en") == TEMPLATE and config.letters.template_for("vi") is None
    assert load_config(tmp_path / "absent.yaml").letters.template_for("vi") is None
    wrong = TEMPLATE.replace("{new_due}", "{new_date}")
    path.write_text(yaml.safe_dump({"letters": {"template": {"vi": wrong}}}, allow_unicode=True), "utf-8")
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert f"{path}: letters.template.vi: unknown placeholder {{new_date}}" in str(refused.value)
    path.write_text("letters: {template: {fr: x}}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"letters\.template\.fr: unknown key"):
        load_config(path)


# The printed letter.


def pdf_text(path: Path) -> tuple[PdfReader, str]:
    reader = PdfReader(path)
    return reader, "\n".join(page.extract_text() for page in reader.pages)


def one_a4_page(reader: PdfReader) -> bool:
    (page,) = reader.pages
    box = page.mediabox
    return abs(float(box.width) - A4[0]) < 0.5 and abs(float(box.height) - A4[1]) < 0.5


def test_the_pdf_is_one_a4_page_with_the_letter_in_correct_vietnamese(tmp_path: Path):
    path = tmp_path / "thu-xin-loi.pdf"
    write_letter_pdf(content(), "vi", path)
    reader, text = pdf_text(path)
    assert one_a4_page(reader)
    assert unicodedata.normalize("NFC", text) == text
    found = words(text)
    for part in (
        "UBND PHƯỜNG BẾN NGHÉ",
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "Ngày 18/11/2026",
        "THƯ XIN LỖI",
        "Kính gửi Ông/Bà Nguyễn Thị Mai,",
        "Mã hồ sơ: 000.00.15.H29-261102-0001",
        f"Lý do: {REASON}",
        "27/11/2026",
        "THỦ TRƯỞNG UBND PHƯỜNG BẾN NGHÉ",
        "Lê Văn C",
    ):
        assert part in found, part


def test_the_pdf_in_english(tmp_path: Path):
    path = tmp_path / "letter.pdf"
    write_letter_pdf(content("en", citizen_name=None), "en", path)
    reader, text = pdf_text(path)
    assert one_a4_page(reader)
    found = words(text)
    for part in (
        "SOCIALIST REPUBLIC OF VIET NAM",
        "Independence - Freedom - Happiness",
        "LETTER OF APOLOGY",
        "Dear Sir or Madam,",
        "27 November 2026",
        REASON,
        "HEAD OF UBND PHƯỜNG BẾN NGHÉ",
    ):
        assert part in found, part


def test_accents_typed_separately_are_printed_composed(tmp_path: Path):
    decomposed = unicodedata.normalize("NFD", REASON)
    made = letter_content(dossier(), extension(decomposed), DIRECTORY, PEOPLE, ZONE, TODAY)
    path = tmp_path / "letter.pdf"
    write_letter_pdf(made, "vi", path)
    assert REASON in words(pdf_text(path)[1])


def test_a_reason_of_500_characters_fits_one_page(tmp_path: Path):
    reason = "Thiếu chữ ký xác nhận của cơ quan thuế; chờ ý kiến của Sở Tài nguyên và Môi trường. " * 7
    reason = reason[:500]
    assert len(reason) == 500
    for language in ("vi", "en"):
        made = replace(content(language), reason=reason.strip())
        path = tmp_path / f"long-{language}.pdf"
        write_letter_pdf(made, language, path)
        reader, text = pdf_text(path)
        assert one_a4_page(reader) and reason.strip() in words(text)
        lines = "\n".join(f"- Giấy tờ còn thiếu số {n}: bản sao có chứng thực" for n in range(1, 12))
        made = replace(content(language), reason=lines[:500])
        write_letter_pdf(made, language, path)
        assert one_a4_page(pdf_text(path)[0])


def test_a_letter_too_long_for_the_page_is_refused_and_nothing_written(tmp_path: Path):
    template = "{citizen} {procedure} {code} {received} {state} {reason} {new_due}\n"
    template += "Xin lỗi Ông/Bà.\n" * 200
    path = tmp_path / "letter.pdf"
    with pytest.raises(LetterTooLong, match="does not fit one A4 page even in 9 pt"):
        write_letter_pdf(content(), "vi", path, template)
    assert not path.exists()


# `feedback-bot dossier letter`.


def record(config_file: Path, code: str = "HS-1", *, unit: str = "Q1-BN", extended: bool = True) -> None:
    """A dossier recorded as the intake API records it, and its extension (one before it, too)."""
    config = load_config(config_file)
    facts = DossierFacts(
        code=code, unit_code=unit, procedure="Cấp giấy phép xây dựng",
        received_at=datetime(2026, 11, 2, 1, 30, tzinfo=UTC), due_at=datetime(2026, 11, 20, 10, tzinfo=UTC),
        received_on=date(2026, 11, 2), due_on=date(2026, 11, 20), citizen_name="Trần Văn Bình",
    )  # fmt: skip
    now = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)

    async def put() -> None:
        async with opened_storage(config) as store:
            new = NewDossier(link_id=f"L-{code}", survey_code=f"S-{code}")
            await store.dossiers.put_dossiers([(facts, new)], actor="api:one-stop", now=now)
            if not extended:
                return
            for day, reason, new_due in ((10, "Chờ ý kiến của Sở Xây dựng", 25), (18, REASON, 27)):
                at = datetime(2026, 11, day, 2, tzinfo=UTC)
                event = DossierEventFacts(
                    type=DossierEventType.EXTENDED, at=at, reason=reason,
                    new_due_at=datetime(2026, 11, new_due, 10, tzinfo=UTC),
                )  # fmt: skip
                await store.dossiers.add_dossier_event(code, event, actor="api:one-stop", now=at)

    asyncio.run(put())


def letter(config_file: Path, code: str, *args: str) -> int:
    return main(["--config", str(config_file), "dossier", "letter", code, *args])


def error_line(err: str) -> str:
    (line,) = [line for line in err.splitlines() if line.startswith("feedback-bot: ")]
    return line


def test_dossier_letter_prints_the_letter_and_writes_the_pdf(config_file: Path, tmp_path: Path, capsys):
    record(config_file)
    path = tmp_path / "letters" / "HS-1.pdf"  # the folder is made
    assert letter(config_file, " HS-1 ", "--pdf", str(path)) == 0
    captured = capsys.readouterr()
    today = datetime.now(UTC).astimezone(ZONE).date()
    assert captured.out.startswith(f"THƯ XIN LỖI\nNgày {today:%d/%m/%Y}\n\nKính gửi Ông/Bà Trần Văn Bình,\n")
    assert f"Lý do: {REASON}\n" in captured.out and "vào ngày 27/11/2026" in captured.out  # the latest
    assert captured.out.endswith("Thủ trưởng UBND Phường Bến Nghé\nLê Văn C\n")
    assert f"letter written to {path}" in captured.err
    reader, text = pdf_text(path)
    assert one_a4_page(reader)
    assert all(part in words(text) for part in ("HS-1", REASON, "27/11/2026", "Trần Văn Bình"))


def test_dossier_letter_in_english_with_the_configs_template(config_file: Path, tmp_path: Path, capsys):
    write_config(config_file, language="en", letters={"template": {"en": TEMPLATE}})
    record(config_file, "HS-2", unit="Q3")
    assert letter(config_file, "HS-2", "--pdf", str(tmp_path / "l.pdf")) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("LETTER OF APOLOGY\n") and "Hẹn mới: 27 November 2026" in captured.out
    assert captured.out.endswith("Head of UBND Quận 3\nĐỗ Thị F\n")
    assert "fontTools" not in captured.err
    # Vietnamese has no template of its own in this config: the catalog's letter.
    assert letter(config_file, "HS-2", "--pdf", str(tmp_path / "l.pdf"), "--language", "vi") == 0
    out = capsys.readouterr().out
    assert out.startswith("THƯ XIN LỖI\n") and "vào ngày 27/11/2026." in out and "Hẹn mới" not in out


def test_dossier_letter_refuses_without_an_extension_or_a_dossier(config_file: Path, tmp_path: Path, capsys):
    record(config_file, "HS-3", extended=False)
    path = tmp_path / "l.pdf"
    assert letter(config_file, "HS-3", "--pdf", str(path)) == 2
    assert error_line(capsys.readouterr().err) == (
        "feedback-bot: dossier HS-3 has no extension recorded, so no apology letter: record one with "
        "feedback-bot dossier extend, or the intake API's extended event (reason, new_due_at)"
    )
    assert letter(config_file, "HS-404", "--pdf", str(path)) == 2
    assert "no dossier 'HS-404' is recorded" in error_line(capsys.readouterr().err)
    assert not path.exists()


def test_dossier_letter_checks_the_pdf_path_before_anything(config_file: Path, tmp_path: Path, capsys):
    assert letter(config_file, "HS-1", "--pdf", str(tmp_path)) == 2
    assert error_line(capsys.readouterr().err) == (
        f"feedback-bot: cannot write the letter to {tmp_path}: it is a folder; give a file name ending .pdf"
    )
    assert not (tmp_path / "db").exists()  # the database was not even opened
