"""Admins send a question set to the bot, see it as citizens will, and activate it; nobody else can."""

from __future__ import annotations

from handlers.admin import ActivateQuestionSet
from tests.conftest import Citizen, add_dossier, labels, texts
from tests.test_question_sets import WARD_SET


async def test_an_admin_uploads_previews_and_activates_a_set(config, store, dispatcher):
    admin = Citizen(dispatcher, chat_id="9001")
    replies = await admin.send_document("ward.yaml", WARD_SET.encode())
    (preview,) = replies
    assert "Đã lưu bộ câu hỏi ward-five-level phiên bản 1 (chưa kích hoạt)" in preview.text
    assert "1. Ông/Bà đánh giá thế nào?" in preview.text and "5) Rất không hài lòng" in preview.text
    assert "Phạm vi áp dụng: Q1-BN" in preview.text
    assert labels(replies) == ["Kích hoạt"]
    assert "Đã kích hoạt ward-five-level phiên bản 1" in texts(await admin.press("Kích hoạt"))

    _, token = await add_dossier(config, store)
    citizen = Citizen(dispatcher, chat_id="1001")
    assert labels(await citizen.command("start", token))[0] == "Rất hài lòng"  # the next survey uses it

    again = await admin.send_document("ward.yaml", WARD_SET.encode())
    assert "giống hệt ward-five-level phiên bản 1" in texts(again) and labels(again) == []
    listing = await admin.command("questions")
    assert "#1 ward-five-level v1 · đang dùng · 0 ý kiến · Q1-BN" in texts(listing)


async def test_an_invalid_or_unreadable_file_changes_nothing(store, dispatcher):
    admin = Citizen(dispatcher, chat_id="9001")
    replies = await admin.send_document("ward.yaml", WARD_SET.replace("type: rating", "type: stars").encode())
    assert "chưa hợp lệ" in texts(replies)
    assert "dòng 7, questions.0.type: giá trị phải là một trong: 'rating', 'choice'" in texts(replies)
    assert "Không đọc được tệp «photo.jpg»" in texts(
        await admin.send_document("photo.jpg", b"\xff\xd8\xff\xe0")
    )
    assert "Không đọc được tệp «big.yaml»" in texts(await admin.send_document("big.yaml", None))
    assert await store.question_sets.list_question_sets() == []


async def test_nobody_but_an_admin_uploads_activates_or_lists(store, dispatcher):
    admin = Citizen(dispatcher, chat_id="9001")
    await admin.send_document("ward.yaml", WARD_SET.encode())
    (stored,) = await store.question_sets.list_question_sets()
    for who in ("1001", "2101", "2102"):  # a citizen, a head, a staff member
        person = Citizen(dispatcher, chat_id=who)
        assert "Chỉ quản trị viên" in texts(await person.send_document("mine.yaml", WARD_SET.encode()))
        assert "chỉ dành cho quản trị viên" in texts(await person.press_key(ActivateQuestionSet(stored.id)))
        assert "chỉ dành cho quản trị viên" in texts(await person.command("questions"))
    (still,) = await store.question_sets.list_question_sets()
    assert not still.active and still.version == 1


async def test_a_forged_activation_key_changes_nothing(store, dispatcher):
    admin = Citizen(dispatcher, chat_id="9001")
    for key in (ActivateQuestionSet(999), "qs1.delete"):
        assert "không còn hiệu lực" in texts(await admin.press_key(key))


async def test_problems_come_in_the_admins_language(store, dispatcher):
    admin = Citizen(dispatcher, chat_id="9001")
    await store.chats.set_language("telegram", "9001", "en")
    broken = WARD_SET.replace("type: rating", "type: stars").replace("{id: ok,", "{id: ok, colour: red,")
    replies = await admin.send_document("ward.yaml", broken.encode())
    assert "is not valid; nothing changed" in texts(replies)
    assert "line 7, questions.0.type: Input should be 'rating', 'choice' or 'text'" in texts(replies)
    assert "line 13, questions.0.options.2.colour: Extra inputs are not permitted" in texts(replies)


async def test_a_changed_default_set_keeping_its_label_is_stored_as_the_next_version(
    config, store, dispatcher
):
    """An admin edits the shipped set's wording but keeps `id: default` and `version: 1`: what they
    see, what citizens get and what the answers are labelled with must all be the new text."""
    from importlib import resources

    shipped = (resources.files("handlers") / "question_sets" / "default.yaml").read_text(encoding="utf-8")
    old_wording = "Ông/Bà có hài lòng với việc giải quyết hồ sơ này không?"
    new_wording = "Ông/Bà thấy việc giải quyết hồ sơ thế nào?"
    edited = shipped.replace(old_wording, new_wording)
    admin = Citizen(dispatcher, chat_id="9001")

    (preview,) = await admin.send_document("default.yaml", edited.encode())
    assert "Tệp ghi phiên bản 1; bộ câu hỏi được lưu thành default phiên bản 2" in preview.text
    assert new_wording in preview.text and old_wording not in preview.text
    assert "Đã kích hoạt default phiên bản 2" in texts(await admin.press("Kích hoạt"))

    dossier, token = await add_dossier(config, store)
    citizen = Citizen(dispatcher, chat_id="1001")
    assert new_wording in texts(await citizen.command("start", token))
    await citizen.press("Hài lòng")
    answer = await store.surveys.get_answer(dossier.id)
    assert (answer.question_set, answer.question_set_version) == ("default", 2)

    listing = texts(await admin.command("questions"))
    assert "Mặc định: default v1" in listing and "default v2 · đang dùng" in listing


async def test_the_unchanged_default_set_is_not_stored_again(store, dispatcher):
    from importlib import resources

    shipped = (resources.files("handlers") / "question_sets" / "default.yaml").read_bytes()
    admin = Citizen(dispatcher, chat_id="9001")
    assert "giống hệt bộ câu hỏi mặc định (default phiên bản 1)" in texts(
        await admin.send_document("default.yaml", shipped)
    )
    assert await store.question_sets.list_question_sets() == []
