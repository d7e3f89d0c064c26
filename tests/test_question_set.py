"""Question sets: the shipped default, and what an invalid file is told."""

from __future__ import annotations

import pytest

from handlers.question_set import Factor, QuestionSetError, load_question_set, parse_question_set
from handlers.texts import CATALOG
from storage.records import Rating


def test_the_default_set_is_valid_bilingual_and_short():
    qs = load_question_set(None)
    assert (qs.id, qs.version) == ("default", 1)
    rating = qs.rating_question
    assert [o.text.vi for o in rating.options] == ["Hài lòng", "Bình thường", "Không hài lòng"]
    assert [o.rating for o in rating.options] == list(Rating)
    problem = qs.question("problem")
    assert {o.factor for o in problem.options} == {*Factor} - {Factor.OVERALL} | {None}
    for question in qs.questions:
        assert question.text.vi and question.text.en
    for rating_value in Rating:
        path, step = [], rating.id
        while (following := qs.next_question(step, rating_value)) is not None:
            path.append(following.id)
            step = following.id
        assert len(path) + 1 <= 3
    assert qs.next_question("rating", Rating.SATISFIED).id == "comment"
    assert qs.next_question("rating", Rating.UNSATISFIED).id == "problem"


def test_a_set_from_a_file(tmp_path):
    path = tmp_path / "q.yaml"
    path.write_text(
        """
id: ward
version: 3
name: {vi: Phường, en: Ward}
questions:
  - id: rating
    type: rating
    factor: overall
    text: {vi: "Hài lòng không?", en: "Satisfied?"}
    options:
      - {id: very_good, rating: satisfied, text: {vi: Rất hài lòng, en: Very satisfied}}
      - {id: good, rating: satisfied, text: {vi: Hài lòng, en: Satisfied}}
      - {id: ok, rating: neutral, text: {vi: Bình thường, en: Neutral}}
      - {id: bad, rating: unsatisfied, text: {vi: Không hài lòng, en: Unsatisfied}}
      - {id: very_bad, rating: unsatisfied, text: {vi: Rất không hài lòng, en: Very unsatisfied}}
""",
        encoding="utf-8",
    )
    qs = load_question_set(path)
    assert qs.version == 3 and len(qs.rating_question.options) == 5


RATING = """
  - id: rating
    type: rating
    factor: overall
    text: {vi: A, en: A}
    options:
      - {id: s, rating: satisfied, text: {vi: S, en: S}}
      - {id: n, rating: neutral, text: {vi: N, en: N}}
      - {id: u, rating: unsatisfied, text: {vi: U, en: U}}
"""


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("questions: []", "the first question must be the rating question"),
        ("questions:" + RATING + RATING.replace("id: rating", "id: again"), "exactly one rating question"),
        ("questions:" + RATING.replace("{vi: A, en: A}", "{vi: A}"), "questions.0.text.en: Field required"),
        ("questions:" + RATING.replace("factor: overall", "factor: mood"), "questions.0.factor"),
        ("questions:" + RATING.replace("rating: neutral", "rating: meh"), "questions.0.options.1.rating"),
        ("questions:" + RATING.replace("rating: neutral, ", ""), "every option needs a rating"),
        (
            "questions:"
            + RATING
            + "  - {id: t, type: text, factor: staff, text: {vi: T, en: T}, max_length: 5000}",
            "questions.1.max_length",
        ),
        (
            "questions:"
            + RATING
            + "".join(
                f"  - {{id: t{n}, type: text, factor: staff, text: {{vi: T, en: T}}}}\n" for n in range(3)
            ),
            "would get 4 questions; at most 3",
        ),
        ("questions:" + RATING + "    colour: red", "questions.0.colour: Extra inputs are not permitted"),
        ("questions: [unclosed", "not valid YAML"),
    ],
)
def test_invalid_sets_name_the_place_and_the_problem(body, problem):
    source = "id: x\nversion: 1\nname: {vi: X, en: X}\n" + body
    with pytest.raises(QuestionSetError) as caught:
        parse_question_set(source, "mine.yaml")
    assert problem in str(caught.value) and str(caught.value).startswith("mine.yaml: ")
    # every problem has Vietnamese words of its own, not pydantic's English
    for found in caught.value.problems:
        assert f"error_{found.kind}" in CATALOG, found.kind
        assert found.describe("vi") != found.describe("en")


def test_an_unreadable_file_is_reported(tmp_path):
    with pytest.raises(QuestionSetError, match="cannot be read"):
        load_question_set(tmp_path / "absent.yaml")
