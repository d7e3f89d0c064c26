"""Imported question sets: versions that never change, scope resolution, the survey asking the
right set and keeping the version it began with, the command line, and the audit trail."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from handlers.question_set import QuestionSetError, parse_question_set
from handlers.question_sets import QuestionSets
from tests.conftest import NOW, UNITS, Citizen, add_dossier, labels, texts

WARD_SET = """\
id: ward-five-level
name: {vi: Khảo sát phường, en: Ward survey}
scope:
  units: [Q1-BN]
questions:
  - id: rating
    type: rating
    factor: overall
    text: {vi: "Ông/Bà đánh giá thế nào?", en: "How would you rate it?"}
    options:
      - {id: very_good, rating: satisfied, text: {vi: Rất hài lòng, en: Very satisfied}}
      - {id: good, rating: satisfied, text: {vi: Hài lòng, en: Satisfied}}
      - {id: ok, rating: neutral, text: {vi: Bình thường, en: Neutral}}
      - {id: bad, rating: unsatisfied, text: {vi: Không hài lòng, en: Unsatisfied}}
      - {id: very_bad, rating: unsatisfied, text: {vi: Rất không hài lòng, en: Very unsatisfied}}
"""


def variant(source: str, **changes: object) -> str:
    data = yaml.safe_load(source)
    data.update(changes)
    return yaml.safe_dump(data, allow_unicode=True)


async def imported(sets: QuestionSets, source: str, activate: bool = True):
    stored, created = await sets.import_set(source, "test.yaml", NOW, "admin:test")
    if activate:
        await sets.repository.activate_question_set(stored.id, NOW, "admin:test")
    return stored, created


async def test_an_import_is_a_new_version_only_when_the_set_changed(store, dispatcher):
    sets = dispatcher.survey.sets
    first, created = await imported(sets, WARD_SET, activate=False)
    assert created and (first.set_id, first.version, first.active) == ("ward-five-level", 1, False)
    again, created = await imported(sets, WARD_SET.replace("id: rating\n", "id: rating   \n"), activate=False)
    assert not created and again.id == first.id  # the same set, formatted differently
    changed, created = await imported(sets, variant(WARD_SET, name={"vi": "Phường mới", "en": "New"}), False)
    assert created and changed.version == 2
    assert (
        await store.question_sets.get_question_set(first.id)
    ).source == WARD_SET  # a stored version never changes


async def test_the_survey_asks_the_most_specific_active_set(config, store, dispatcher):
    sets = dispatcher.survey.sets
    await imported(sets, WARD_SET)
    district = variant(WARD_SET, id="district", scope={"units": ["Q1"]})
    await imported(sets, district)
    birth = variant(WARD_SET, id="birth", scope={"units": ["Q1"], "procedures": ["Đăng ký khai sinh"]})
    await imported(sets, birth)

    async def asked(code: str, unit: str, procedure: str) -> str:
        dossier, _ = await add_dossier(config, store, code, unit=unit, procedure=procedure)
        return (await sets.for_dossier(dossier)).id

    assert await asked("A", "Q1-BN", "Đăng ký kết hôn") == "ward-five-level"  # the ward's own set
    assert await asked("B", "Q1", "Đăng ký kết hôn") == "district"
    assert await asked("C", "Q1-BN", "Đăng ký khai sinh") == "birth"  # procedure and unit beat unit alone
    assert await asked("D", "Q3", "Đăng ký khai sinh") == "default"  # out of every scope


async def test_a_five_level_set_maps_onto_three_ratings_and_records_its_version(config, store, dispatcher):
    await imported(dispatcher.survey.sets, WARD_SET)
    dossier, token = await add_dossier(config, store)
    alice = Citizen(dispatcher)
    replies = await alice.command("start", token)
    assert labels(replies) == [
        "Rất hài lòng",
        "Hài lòng",
        "Bình thường",
        "Không hài lòng",
        "Rất không hài lòng",
    ]
    replies = await alice.press("Rất không hài lòng")
    assert "Thủ trưởng" in texts(replies)
    answer = await store.surveys.get_answer(dossier.id)
    assert (answer.rating.value, answer.rating_option) == ("unsatisfied", "very_bad")
    assert (answer.question_set, answer.question_set_version) == ("ward-five-level", 1)
    (stored,) = await store.question_sets.list_question_sets()
    assert stored.answers == 1


async def test_a_survey_in_progress_keeps_its_version_and_an_admin_can_go_back(config, store, dispatcher):
    sets = dispatcher.survey.sets
    first, _ = await imported(sets, WARD_SET)
    _, token = await add_dossier(config, store)
    alice = Citizen(dispatcher)
    await alice.command("start", token)
    three = variant(
        WARD_SET,
        questions=yaml.safe_load(
            (Path(__file__).parent.parent / "handlers/question_sets/default.yaml").read_text()
        )["questions"],
    )
    second, _ = await imported(sets, three)
    assert second.version == 2 and not (await store.question_sets.get_question_set(first.id)).active
    fresh = QuestionSets(
        store.question_sets, store.directory, sets.default
    )  # another process, or after a restart
    alice.dispatcher.survey.sets = fresh
    replies = await alice.press("Rất hài lòng")  # a button of version 1 still works
    assert "Cảm ơn" in texts(replies)
    await store.question_sets.activate_question_set(first.id, NOW, "admin:test")
    dossier, token = await add_dossier(config, store, "HS-002")
    assert (await fresh.for_dossier(dossier)).version == 1


def test_validation_errors_name_the_line(tmp_path):
    broken = WARD_SET.replace("factor: overall", "factor: mood").replace("{id: ok,", "{id: ok, colour: red,")
    with pytest.raises(QuestionSetError) as caught:
        parse_question_set(broken, "ward.yaml")
    message = str(caught.value)
    assert "line 8, questions.0.factor" in message
    assert "line 13, questions.0.options.2.colour: Extra inputs are not permitted" in message


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump({"database": "db.sqlite", "secret": "s", "units": UNITS}, allow_unicode=True)
    )
    return path


def test_the_question_commands_and_the_audit_trail(config_file, tmp_path, capsys):
    ward = tmp_path / "ward.yaml"
    ward.write_text(WARD_SET, encoding="utf-8")
    assert main(["--config", str(config_file), "questions", "validate", str(ward)]) == 0
    assert "valid: ward-five-level, 1 questions" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text(WARD_SET.replace("type: rating", "type: stars"), encoding="utf-8")
    assert main(["--config", str(config_file), "questions", "validate", str(bad)]) == 2
    assert "dòng 7, questions.0.type: giá trị phải là một trong" in capsys.readouterr().err  # config: vi
    assert main(["--config", str(config_file), "questions", "import", str(bad)]) == 2

    assert main(["--config", str(config_file), "questions", "import", str(ward)]) == 0
    assert "imported ward-five-level v1 as id 1" in capsys.readouterr().out
    assert main(["--config", str(config_file), "questions", "import", str(ward)]) == 0
    assert "unchanged" in capsys.readouterr().out
    assert main(["--config", str(config_file), "questions", "activate", "1"]) == 0
    assert main(["--config", str(config_file), "questions", "activate", "99"]) == 2
    capsys.readouterr()
    assert main(["--config", str(config_file), "questions", "list"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[1].split() == ["1", "ward-five-level", "1", "active", "0", "Q1-BN"]

    assert main(["--config", str(config_file), "audit"]) == 0
    audit = capsys.readouterr().out
    assert (
        "question set imported" in audit
        and "question set activated" in audit
        and "ward-five-level v1" in audit
    )
    assert main(["--config", str(config_file), "audit", "--since", "2999-01-01"]) == 0
    assert capsys.readouterr().out == ""


def test_preview_runs_the_set_in_the_terminal_and_stores_nothing(config_file, tmp_path, monkeypatch, capsys):
    import io

    ward = tmp_path / "ward.yaml"
    ward.write_text(WARD_SET, encoding="utf-8")
    assert main(["--config", str(config_file), "questions", "import", str(ward)]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("5\n"))
    assert main(["--config", str(config_file), "questions", "preview", "1"]) == 0
    out = capsys.readouterr().out
    assert "5. Rất không hài lòng" in out and "Thủ trưởng" in out
    with sqlite3.connect(tmp_path / "db.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM answers").fetchone() == (0,)
        assert db.execute("SELECT COUNT(*) FROM dossiers").fetchone() == (0,)


def test_the_command_line_never_stores_a_version_under_the_default_sets_label(config_file, tmp_path, capsys):
    from importlib import resources

    shipped = (resources.files("handlers") / "question_sets" / "default.yaml").read_text(encoding="utf-8")
    same, edited = tmp_path / "same.yaml", tmp_path / "edited.yaml"
    same.write_text(shipped, encoding="utf-8")
    edited.write_text(shipped.replace("Khảo sát mức độ hài lòng", "Khảo sát ý kiến"), encoding="utf-8")
    assert main(["--config", str(config_file), "questions", "import", str(same)]) == 0
    assert "the same as the default set default v1; nothing stored" in capsys.readouterr().out
    assert main(["--config", str(config_file), "questions", "import", str(edited)]) == 0
    out = capsys.readouterr().out
    assert "imported default v2 as id 1 (the file says version 1" in out
