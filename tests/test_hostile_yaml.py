"""YAML from people is read with limits: no anchors or aliases (a file of 1.5 KB would expand to
111,111 units), bounded nesting (deeper would exhaust Python's recursion and leave the admin without
an answer), a size limit, bounded counts (units, tree depth, questions), and checks whose cost grows
with the file, not with its square. Every refusal is a polite reply in the admin's language."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.cli import main
from bot.config import ConfigError, load_config
from handlers.directory import (
    MAX_UNIT_DEPTH,
    MAX_UNITS,
    DirectoryError,
    parse_directory,
    plan_change,
)
from handlers.question_set import QuestionSetError, parse_question_set
from handlers.yaml_safe import MAX_CHARS, MAX_DEPTH, YamlRefused, load_yaml
from storage.records import Contact, Person, Role, Unit
from tests.conftest import UNITS, Citizen, labels, texts
from tests.test_question_sets import WARD_SET


def alias_bomb(depth: int = 5, width: int = 10) -> str:
    """A directory file of about 1.5 KB whose `children` lists are aliases of one another: read as
    written, `width ** depth` units (111,111 with the defaults)."""
    level = "&l0 [{code: A0, name: n}]"
    for i in range(1, depth + 1):
        others = "".join(f", {{code: B{i}x{k}, name: n, children: *l{i - 1}}}" for k in range(width - 1))
        level = f"&l{i} [{{code: A{i}, name: n, children: {level}}}{others}]"
    return f"units: {level}\n"


def nested_flow(levels: int) -> str:
    return "units: " + "[" * levels + "]" * levels + "\n"


def nested_block(levels: int) -> str:
    return "units:\n" + "".join("  " * n + "- \n" for n in range(levels))


def chain(depth: int) -> dict[str, object]:
    """A directory whose tree is `depth` units deep, one under the other."""
    unit: dict[str, object] = {"code": f"L{depth}", "name": "n"}
    for n in range(depth - 1, 0, -1):
        unit = {"code": f"L{n}", "name": "n", "children": [unit]}
    return {"units": [unit]}


def dumped(data: object) -> str:
    return yaml.safe_dump(data, allow_unicode=True)


# The safe loader


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("a: &x 1\nb: *x\n", "alias"),
        ("a: &x [1]\n", "alias"),  # an anchor alone: refused too, so the file says what it means
        ("a: !!str &x 1\n", "alias"),
        (nested_flow(MAX_DEPTH + 1), "depth"),
        (nested_flow(100_000), "depth"),
        (nested_block(600), "depth"),
        ("- " * 100_000 + "x\n", "depth"),
        ("x" * (MAX_CHARS + 1), "size"),
    ],
)
def test_the_loader_refuses_aliases_deep_nesting_and_large_texts(source, kind):
    with pytest.raises(YamlRefused) as caught:
        load_yaml(source)
    assert caught.value.kind == kind
    assert caught.value.describe("vi") != caught.value.describe("en")


def test_the_loader_reads_ordinary_yaml_and_keeps_times_of_day_as_text():
    assert load_yaml(nested_flow(MAX_DEPTH - 1)) is not None
    assert load_yaml("time: 17:30\nn: 42\nd: 2026-01-02\n")["time"] == "17:30"
    assert load_yaml("") is None


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from("[]{}-:,&*!|>'\"#? \n\tax0"), max_size=400))
def test_any_text_is_read_or_refused_as_bad_yaml_never_with_another_error(source):
    with contextlib.suppress(yaml.YAMLError, ValueError):
        load_yaml(source)


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=MAX_DEPTH + 1, max_value=50_000), st.sampled_from(["[", "{a: ", "- "]))
def test_nesting_of_any_kind_and_depth_is_refused(levels, opener):
    source = opener * levels + "x"
    with pytest.raises(YamlRefused):
        load_yaml(source)


# Files admins send in the chat


@pytest.mark.timeout(10)
async def test_an_alias_bomb_is_refused_at_once_and_changes_nothing(store, dispatcher):
    admin = Citizen(dispatcher, chat_id="9001")
    replies = await admin.send_document("bomb.yaml", alias_bomb().encode())
    assert "Tệp «bomb.yaml» không được nhận" in texts(replies)
    assert "neo hoặc bí danh YAML" in texts(replies) and labels(replies) == []
    assert [u.code for u in await store.directory.list_units()] == ["Q1", "Q1-BN", "Q3"]


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    "source", [nested_flow(100_000), "units:\n" + "- " * 100_000, nested_block(300), "a: [" * 50_000]
)
async def test_deeply_nested_yaml_gets_a_polite_answer_in_the_admins_language(store, dispatcher, source):
    admin = Citizen(dispatcher, chat_id="9001")
    assert "lồng nhau quá sâu" in texts(await admin.send_document("deep.yaml", source.encode()))
    await store.chats.set_language("telegram", "9001", "en")
    replies = await admin.send_document("deep.yaml", source.encode())
    assert "The file «deep.yaml» is refused; nothing changed" in texts(replies)
    assert f"nested too deeply (more than {MAX_DEPTH} levels)" in texts(replies)


@pytest.mark.timeout(10)
async def test_a_question_set_with_aliases_is_refused(store, dispatcher):
    aliased = WARD_SET.replace(
        "text: {vi: Hài lòng, en: Satisfied}", "text: &t {vi: Hài lòng, en: Satisfied}"
    )
    aliased = aliased.replace("text: {vi: Bình thường, en: Neutral}", "text: *t")
    admin = Citizen(dispatcher, chat_id="9001")
    replies = await admin.send_document("ward.yaml", aliased.encode())
    assert "dòng 12" in texts(replies) and "bí danh" in texts(replies)
    assert await store.question_sets.list_question_sets() == []


async def test_too_many_units_or_too_deep_a_tree_is_refused_in_the_admins_language(store, dispatcher):
    admin = Citizen(dispatcher, chat_id="9001")
    many = {"units": [{"code": f"U{n}", "name": "n"} for n in range(MAX_UNITS + 1)]}
    assert f"có {MAX_UNITS + 1} đơn vị; tối đa {MAX_UNITS}" in texts(
        await admin.send_document("many.yaml", dumped(many).encode())
    )
    assert f"sâu {MAX_UNIT_DEPTH + 1} tầng; tối đa {MAX_UNIT_DEPTH}" in texts(
        await admin.send_document("deep.yaml", dumped(chain(MAX_UNIT_DEPTH + 1)).encode())
    )
    await store.chats.set_language("telegram", "9001", "en")
    assert f"{MAX_UNIT_DEPTH + 1} levels deep; at most {MAX_UNIT_DEPTH}" in texts(
        await admin.send_document("deep.yaml", dumped(chain(MAX_UNIT_DEPTH + 1)).encode())
    )
    assert [u.code for u in await store.directory.list_units()] == ["Q1", "Q1-BN", "Q3"]
    assert "L8" in texts(await admin.send_document("deep.yaml", dumped(chain(MAX_UNIT_DEPTH)).encode()))


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"questions_extra": 20}, "questions: at most 20 items"),
        ({"long_text": 1001}, "at most 1000 characters"),
    ],
)
def test_question_sets_have_bounded_counts(change, problem):
    data = yaml.safe_load(WARD_SET)
    if "questions_extra" in change:
        data["questions"] += [
            {"id": f"q{n}", "type": "text", "factor": "overall", "show_for": [],
             "text": {"vi": "Câu hỏi", "en": "Question"}}
            for n in range(change["questions_extra"])
        ]  # fmt: skip
    else:
        data["questions"][0]["text"]["vi"] = "x" * change["long_text"]
    with pytest.raises(QuestionSetError) as caught:
        parse_question_set(dumped(data), "q.yaml")
    assert problem in caught.value.describe("en")


# Checks whose cost grows with the file


@pytest.mark.timeout(20)
def test_planning_a_directory_of_the_largest_size_is_linear():
    """5,000 units with a head and a staff member each, against a stored directory of the same size
    (everyone stored twice: an earlier listing and the current one). Quadratic matching of people
    took minutes here."""
    units = [
        {"code": f"U{n}", "name": f"Phường {n}", "head": {"name": f"H{n}", "telegram": 10_000_000 + n},
         "staff": [{"name": f"S{n}", "telegram": 20_000_000 + n, "zalo": f"z{n}"}]}
        for n in range(MAX_UNITS)
    ]  # fmt: skip
    file = parse_directory(dumped({"units": units}), "big.yaml")
    stored_units = [Unit(code=f"U{n}", name=f"Phường {n}", parent_code=None) for n in range(MAX_UNITS)]
    people = []
    for n in range(MAX_UNITS):
        for active in (False, True):
            base = len(people) + 1
            people += [
                Person(id=base, unit_code=f"U{n}", role=Role.HEAD, name=f"H{n}", active=active,
                       contacts=(Contact(channel="telegram", chat_id=str(10_000_000 + n)),)),
                Person(id=base + 1, unit_code=f"U{n}", role=Role.STAFF, name=f"S{n}", active=active,
                       contacts=(Contact(channel="telegram", chat_id=str(20_000_000 + n)),)),
            ]  # fmt: skip
    change = plan_change(file, stored_units, people, {})
    assert [name for name, _, _ in change.contacts_changed][:2] == ["S0", "S1"]  # each gained Zalo
    assert not (change.added or change.people_added or change.people_removed or change.role_changed)
    assert all(entry.person_id is not None for entry in change.people)


def test_duplicate_codes_are_named_once_each():
    data = {"units": [{"code": "Q1", "name": "A"}, {"code": "Q1", "name": "B"}, {"code": "Q1", "name": "C"},
                      {"code": "Q2", "name": "D", "children": [{"code": "Q2", "name": "E"}]}]}  # fmt: skip
    with pytest.raises(DirectoryError, match=r"more than once: Q1, Q2$"):
        parse_directory(dumped(data), "d.yaml")


# The command line and the config


@pytest.mark.timeout(10)
def test_the_command_line_refuses_aliases_and_deep_nesting(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    config_file = tmp_path / "config.yaml"
    config_file.write_text(dumped({"database": "db.sqlite", "secret": "s", "units": UNITS}))
    bomb, deep = tmp_path / "bomb.yaml", tmp_path / "deep.yaml"
    bomb.write_text(alias_bomb())
    deep.write_text(nested_flow(100_000))
    assert main(["--config", str(config_file), "directory", "import", str(bomb)]) == 2
    assert "anchor or alias" in capsys.readouterr().err
    assert main(["--config", str(config_file), "questions", "validate", str(deep)]) == 2
    assert "lồng nhau quá sâu" in capsys.readouterr().err  # in the config's language


def test_the_config_refuses_aliases_naming_the_line(tmp_path: Path):
    path = tmp_path / "config.yaml"
    path.write_text("secret: s\nadmins:\n  - &a {name: A, telegram: 1}\n  - *a\n")
    with pytest.raises(ConfigError, match=r"config.yaml: line 3, .*anchor or alias"):
        load_config(path)
    path.write_text("secret: s\nunits: " + "[" * 100_000)
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_config(path)
    path.write_text(
        dumped({"secret": "s", **chain(MAX_UNIT_DEPTH + 1)})
    )  # what a directory file may not hold
    with pytest.raises(ConfigError, match=f"{MAX_UNIT_DEPTH + 1} levels deep; at most {MAX_UNIT_DEPTH}"):
        load_config(path)


def test_refusals_are_yaml_errors_for_callers_that_know_only_those():
    with pytest.raises(yaml.YAMLError):
        load_yaml("a: *x\n")


@pytest.mark.timeout(10)
async def test_a_file_with_thousands_of_mistakes_is_answered_at_once_in_one_message(store, dispatcher):
    """Each problem's line was found by reading the whole file again: a thousand problems took
    minutes. The answer lists the first ones and counts the rest."""
    data = yaml.safe_load(WARD_SET)
    data["questions"][0]["options"] = [
        {"id": f"o{n}", "rating": "satisfied", "colour": "red", "text": {"vi": "A", "en": "A"}}
        for n in range(1000)
    ]
    admin = Citizen(dispatcher, chat_id="9001")
    (reply,) = await admin.send_document("ward.yaml", dumped(data).encode())
    assert "dòng 9, questions.0.options.0.colour" in reply.text and "… và 980 lỗi khác" in reply.text
    assert len(reply.text) < 4000

    units = {"units": [{"code": f"U{n}", "name": "n", "colour": "red"} for n in range(1000)]}
    (reply,) = await admin.send_document("d.yaml", dumped(units).encode())
    assert "units.0.colour: Extra inputs are not permitted" in reply.text and "… and 980 more" in reply.text
    assert len(reply.text) < 4000
