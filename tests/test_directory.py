"""The directory at run time: what a file changes, merges and splits of units, open cases moving
with a retired unit, people changing role, admins only, and the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.cli import main
from handlers.admin import ApplyDirectory
from handlers.cases import CaseAction, CaseButton
from storage.records import CaseState
from tests.conftest import Citizen, add_dossier, labels, texts
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
    from tests.conftest import UNITS

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
