"""The directory at run time: what a file changes, merges and splits of units, open cases moving
with a retired unit, people changing role, who counts as the same person, admins only, and the
command line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.cli import main
from handlers.admin import ApplyDirectory, apply_directory, plan_directory
from handlers.cases import CaseAction, CaseButton
from handlers.directory import DirectoryFile, plan_change, same_people
from storage.records import CaseCounts, CaseState, Contact, Person, PersonEntry, Role, Unit
from tests.conftest import NOW, UNITS, Citizen, add_dossier, labels, texts
from tests.test_cases import complain

# Bến Nghé and a new ward merge into "Sài Gòn"; Phạm Thị D becomes the head; Võ Văn E leaves.
MERGED = {
    "units": [
        {
            "code": "Q1",
            "name": "UBND Quận 1",
            "head": {"name": "Nguyễn Văn A", "telegram": 2001},
            "staff": [{"name": "Trần Thị B", "telegram": 2002}],
            "children": [
                {
                    "code": "Q1-SG",
                    "name": "UBND Phường Sài Gòn",
                    "head": {"name": "Phạm Thị D", "telegram": 2102},
                    "staff": [{"name": "Lê Văn C", "telegram": 2101}],
                }
            ],
        },
        {"code": "Q3", "name": "UBND Quận Ba", "head": {"name": "Đỗ Thị F", "telegram": 3001}},
    ],
    "retire": [{"code": "Q1-BN", "move_cases_to": "Q1-SG"}],
}


def source(data: dict) -> bytes:
    return yaml.safe_dump(data, allow_unicode=True).encode()


async def test_a_merge_previews_then_applies_and_moves_open_cases(config, store, dispatcher):
    await complain(dispatcher, config, store)
    (case,) = await store.cases.list_cases(["Q1-BN"])
    admin = Citizen(dispatcher, chat_id="9001")
    replies = await admin.send_document("merge.yaml", source(MERGED))
    preview = texts(replies)
    assert "(chưa áp dụng)" in preview and labels(replies) == ["Áp dụng"]
    for line in ("+ Q1-SG", "~ Q3: UBND Quận 3 → UBND Quận Ba", "− Q1-BN → Q1-SG",
                 "~ Phạm Thị D: cán bộ Q1-BN → thủ trưởng Q1-SG", "− Võ Văn E (cán bộ Q1-BN)"):  # fmt: skip
        assert line in preview, line
    assert [u.code for u in await store.directory.list_units()] == [
        "Q1",
        "Q1-BN",
        "Q3",
    ]  # nothing changed yet

    applied = await admin.press("Áp dụng")
    assert "Đã áp dụng danh bạ mới" in texts(applied)
    assert [u.code for u in await store.directory.list_units()] == ["Q1", "Q1-SG", "Q3"]
    assert (await store.directory.get_unit("Q1-BN")).retired_at is not None  # retired, not deleted
    moved = await store.cases.get_case(case.id)
    assert moved.unit_code == "Q1-SG" and moved.state == CaseState.NEW
    assert [e.action for e in await store.cases.case_events(case.id)][-1] == "moved"
    # the new head of the merged ward assigns; the old head of Bến Nghé is now staff and cannot
    assert "không có quyền" in texts(
        await Citizen(dispatcher, chat_id="2101").press_key(CaseButton(case.id, CaseAction.ASSIGN))
    )
    assert labels(
        await Citizen(dispatcher, chat_id="2102").press_key(CaseButton(case.id, CaseAction.ASSIGN))
    ) == ["Lê Văn C"]
    assert "đã được áp dụng trước đó" in texts(await admin.press_key(ApplyDirectory(1)))
    assert any(e.action == "directory applied" for e in await store.audit.audit_since(None))


async def test_a_unit_with_open_cases_cannot_vanish_unnamed(config, store, dispatcher):
    await complain(dispatcher, config, store)
    stranded = {**MERGED, "retire": []}
    replies = await Citizen(dispatcher, chat_id="9001").send_document("merge.yaml", source(stranded))
    assert "chưa áp dụng được" in texts(replies) and "Q1-BN" in texts(replies) and labels(replies) == []
    assert (
        await store.directory.get_unit("Q1-BN") is not None
        and (await store.directory.get_unit("Q1-BN")).retired_at is None
    )


async def test_a_unit_without_cases_just_retires_and_keeps_its_dossiers(config, store, dispatcher):
    dossier, _ = await add_dossier(config, store, unit="Q3")
    without_q3 = {"units": MERGED["units"][:1], "retire": MERGED["retire"]}
    admin = Citizen(dispatcher, chat_id="9001")
    preview = await admin.send_document("d.yaml", source(without_q3))
    assert "− Q3 → —" in texts(preview), texts(preview)
    await admin.press("Áp dụng")
    assert [u.code for u in await store.directory.list_units()] == ["Q1", "Q1-SG"]
    assert (await store.dossiers.get_dossier(dossier.code)).unit_name == "UBND Quận 3"


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"units": [{"code": "Q1", "name": "A"}, {"code": "Q1", "name": "B"}]}, "more than once: Q1"),
        (
            {"units": [{"code": "Q1", "name": "A"}], "retire": [{"code": "Q3", "move_cases_to": "Q9"}]},
            "Q9 is not in the new tree",
        ),
        ({"units": [{"code": "Q1"}]}, "units.0.name: Field required"),
    ],
)
async def test_invalid_directory_files_change_nothing(store, dispatcher, data, problem):
    replies = await Citizen(dispatcher, chat_id="9001").send_document("d.yaml", source(data))
    assert problem in texts(replies) and labels(replies) == []
    assert [u.code for u in await store.directory.list_units()] == ["Q1", "Q1-BN", "Q3"]


async def test_only_admins_send_or_apply_a_directory(store, dispatcher):
    admin = Citizen(dispatcher, chat_id="9001")
    await admin.send_document("merge.yaml", source({**MERGED, "retire": MERGED["retire"]}))
    for who in ("2001", "1001"):
        person = Citizen(dispatcher, chat_id=who)
        assert "Chỉ quản trị viên" in texts(await person.send_document("merge.yaml", source(MERGED)))
        assert "chỉ dành cho quản trị viên" in texts(await person.press_key(ApplyDirectory(1)))
    assert [u.code for u in await store.directory.list_units()] == ["Q1", "Q1-BN", "Q3"]


def test_directory_import_on_the_command_line(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    config_file = tmp_path / "config.yaml"
    config_file.write_text(
        yaml.safe_dump({"database": "db.sqlite", "secret": "s", "units": UNITS}, allow_unicode=True)
    )
    merge = tmp_path / "merge.yaml"
    merge.write_bytes(source(MERGED))
    assert main(["--config", str(config_file), "directory", "import", str(merge)]) == 0
    out = capsys.readouterr().out
    assert "− Q1-BN → Q1-SG" in out and "not applied: run again with --apply" in out
    assert main(["--config", str(config_file), "directory", "import", str(merge), "--apply"]) == 0
    assert "applied: units +1" in capsys.readouterr().out
    assert main(["--config", str(config_file), "directory", "import", str(merge)]) == 0
    assert capsys.readouterr().out == "nothing in the directory changes\n"
    assert main(["--config", str(config_file), "directory", "import", str(tmp_path / "absent.yaml")]) == 2


# Who is the same person: a stored head or staff member of the same unit and role who shares a chat
# with the entry. Storage keeps whoever an entry names; this rule decides whom it names.
TG_2102 = Contact(channel="telegram", chat_id="2102")
ZALO_D = Contact(channel="zalo", chat_id="z-d")


def stored(
    person_id: int, *contacts: Contact, unit="Q1-BN", role=Role.STAFF, active=True, name="Phạm Thị D"
) -> Person:
    return Person(id=person_id, unit_code=unit, role=role, name=name, contacts=contacts, active=active)


def listed(*contacts: Contact, unit="Q1-BN", role=Role.STAFF) -> PersonEntry:
    return PersonEntry(unit_code=unit, role=role, name="Phạm Thị D", contacts=contacts)


def test_a_person_who_gains_a_zalo_id_is_the_same_person():
    (entry,) = same_people([listed(TG_2102, ZALO_D)], [stored(4, TG_2102)])
    assert entry.person_id == 4 and entry.contacts == (TG_2102, ZALO_D)
    # and one who drops a chat but keeps another
    (entry,) = same_people([listed(ZALO_D)], [stored(4, TG_2102, ZALO_D)])
    assert entry.person_id == 4


def test_someone_listed_again_after_removal_is_the_same_person():
    (entry,) = same_people([listed(TG_2102)], [stored(4, TG_2102, active=False)])
    assert entry.person_id == 4
    # listed, removed and listed again more than once: the active one first, else the latest
    history = [stored(4, TG_2102, active=False), stored(9, TG_2102, active=False)]
    assert same_people([listed(TG_2102)], history)[0].person_id == 9
    assert same_people([listed(TG_2102)], [stored(12, TG_2102), *history])[0].person_id == 12


def test_matching_needs_the_same_unit_and_role_and_a_shared_chat():
    d = [stored(4, TG_2102)]
    assert same_people([listed(TG_2102, role=Role.HEAD)], d)[0].person_id is None  # promoted: new
    assert same_people([listed(TG_2102, unit="Q1")], d)[0].person_id is None  # moved: new
    assert same_people([listed(ZALO_D)], d)[0].person_id is None  # no chat in common
    assert same_people([listed(TG_2102)], [])[0].person_id is None


def test_a_stored_person_is_named_by_one_entry_only():
    first, second = same_people([listed(TG_2102), listed(TG_2102, ZALO_D)], [stored(4, TG_2102)])
    assert (first.person_id, second.person_id) == (4, None)


def test_the_plan_names_the_stored_people_it_keeps():
    file = DirectoryFile.model_validate(
        {
            "units": [
                {
                    "code": "Q1-BN",
                    "name": "UBND Phường Bến Nghé",
                    "staff": [{"name": "Phạm Thị D", "telegram": 2102, "zalo": "z-d"}],
                    "head": {"name": "Lê Văn C", "telegram": 2101},
                }
            ]
        }
    )
    # Lê Văn C was staff and is now the head: the head is someone new to storage, the staff role
    # ends; the preview shows one person changing role
    people = [stored(4, TG_2102), stored(5, Contact(channel="telegram", chat_id="2101"), name="Lê Văn C")]
    change = plan_change(
        file, [Unit(code="Q1-BN", name="UBND Phường Bến Nghé")], people, {"Q1-BN": CaseCounts()}
    )
    assert sorted((e.name, e.person_id) for e in change.people) == [("Lê Văn C", None), ("Phạm Thị D", 4)]
    assert [name for name, *_ in change.contacts_changed] == ["Phạm Thị D"]
    assert [name for name, *_ in change.role_changed] == ["Lê Văn C"]
    assert change.people_added == [] and change.people_removed == []


async def test_a_staff_member_who_gains_a_zalo_id_keeps_the_cases_they_hold(config, store, dispatcher):
    await complain(dispatcher, config, store)
    (case,) = await store.cases.list_cases(["Q1-BN"])
    (staff,) = await store.directory.people_at("telegram", "2102")
    await store.cases.change_case(
        case.id, from_states=[CaseState.NEW], to_state=CaseState.ASSIGNED, actor="test",
        action="assigned", now=NOW, assignee_id=staff.id,
    )  # fmt: skip
    ward = dict(UNITS[0]["children"][0])
    ward["staff"] = [{"name": "Phạm Thị D", "telegram": 2102, "zalo": "z-d"}, ward["staff"][1]]
    source = yaml.safe_dump({"units": [dict(UNITS[0], children=[ward]), UNITS[1]]}, allow_unicode=True)
    change = await plan_directory(store.directory, store.digests, source, "d.yaml", NOW.date())
    assert change.people_added == [] and change.people_removed == []
    await apply_directory(store.directory, change, NOW, "test")
    (same,) = await store.directory.people_at("zalo", "z-d")
    assert same.id == staff.id
    assert [c.id for c in await store.cases.list_cases(["Q1-BN"], assignee_id=staff.id)] == [case.id]
