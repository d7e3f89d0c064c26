"""Question sets: what citizens are asked, in Vietnamese and English, each question tagged with
a SIPAS factor. Loaded from YAML and validated before the bot starts."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from handlers.texts import CATALOG, Language, text
from handlers.yaml_safe import YamlRefused, compose_yaml, load_yaml
from storage.records import Rating

MAX_QUESTIONS_ON_A_PATH = 3
MAX_TEXT_LENGTH = 2000  # characters as a person sees them: handlers.chat.text_length
# Bounds on what a set may hold, far beyond any real survey: a file within them is checked, stored
# and previewed in a moment, and every question with its options fits in one message.
MAX_QUESTIONS = 20
MAX_WORDING = 1000  # characters of a question, an option or a set's name, in each language
MAX_SCOPE = 2000  # units or procedures a set is scoped to
MAX_PROBLEMS = 20  # problems listed when a file is refused; the rest are counted


class Factor(StrEnum):
    """The five SIPAS factors, and `overall` for the core satisfaction question."""

    OVERALL = "overall"
    ACCESS = "access"
    PROCEDURE = "procedure"
    STAFF = "staff"
    RESULT = "result"
    FEEDBACK = "feedback"


class Texts(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    vi: str = Field(min_length=1, max_length=MAX_WORDING)
    en: str = Field(min_length=1, max_length=MAX_WORDING)

    def __call__(self, language: Language) -> str:
        return self.vi if language == "vi" else self.en


class AnswerOption(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9_]{1,20}$")
    text: Texts
    rating: Rating | None = None  # on the rating question: which canonical level this option counts as
    factor: Factor | None = None  # on a follow-up: which SIPAS factor this option points at


class Question(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9_]{1,20}$")
    type: Literal["rating", "choice", "text"]
    factor: Factor
    text: Texts
    options: tuple[AnswerOption, ...] = ()
    show_for: tuple[Rating, ...] = tuple(Rating)  # ratings after which this question is asked
    max_length: int = Field(default=MAX_TEXT_LENGTH, ge=1, le=MAX_TEXT_LENGTH)

    @property
    def takes_complaint(self) -> bool:
        """A free-text question not asked of satisfied citizens: what is written there is a complaint."""
        return self.type == "text" and Rating.SATISFIED not in self.show_for

    @model_validator(mode="after")
    def _options_fit_type(self) -> Question:
        if self.type == "text" and self.options:
            raise PydanticCustomError(
                "qs_text_options",
                "question {question}: a text question has no options",
                {"question": self.id},
            )
        if self.type != "text" and not 2 <= len(self.options) <= 8:
            raise PydanticCustomError(
                "qs_option_count", "question {question}: give between 2 and 8 options", {"question": self.id}
            )
        ids = [o.id for o in self.options]
        if len(set(ids)) != len(ids):
            raise PydanticCustomError(
                "qs_option_ids", "question {question}: option ids must be unique", {"question": self.id}
            )
        if self.type == "rating":
            missing = {r for r in Rating} - {o.rating for o in self.options}
            if any(o.rating is None for o in self.options) or missing:
                raise PydanticCustomError(
                    "qs_rating_options",
                    "question {question}: every option needs a rating, and every rating "
                    "(satisfied, neutral, unsatisfied) needs an option",
                    {"question": self.id},
                )
        return self


class Scope(BaseModel):
    """Where a set applies: dossiers of these units (and the units under them) and/or of these
    procedures. An empty scope applies everywhere."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    units: tuple[str, ...] = Field(default=(), max_length=MAX_SCOPE)
    procedures: tuple[str, ...] = Field(default=(), max_length=MAX_SCOPE)


class QuestionSet(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9_-]{1,40}$")
    version: int = Field(default=1, ge=1)  # given by the bot on import: each changed import is a new version
    name: Texts
    scope: Scope = Scope()
    questions: tuple[Question, ...] = Field(max_length=MAX_QUESTIONS)

    @field_validator("questions")
    @classmethod
    def _one_rating_first(cls, questions: tuple[Question, ...]) -> tuple[Question, ...]:
        if not questions or questions[0].type != "rating":
            raise PydanticCustomError(
                "qs_first_rating", "the first question must be the rating question (type: rating)"
            )
        if sum(q.type == "rating" for q in questions) != 1:
            raise PydanticCustomError("qs_one_rating", "there must be exactly one rating question")
        ids = [q.id for q in questions]
        if len(set(ids)) != len(ids):
            raise PydanticCustomError("qs_question_ids", "question ids must be unique")
        for rating in Rating:
            asked = sum(rating in q.show_for for q in questions)
            if asked > MAX_QUESTIONS_ON_A_PATH:
                raise PydanticCustomError(
                    "qs_too_many",
                    "a citizen who answers {rating} would get {asked} questions; at most {limit}",
                    {"rating": rating.value, "asked": asked, "limit": MAX_QUESTIONS_ON_A_PATH},
                )
        return questions

    @property
    def rating_question(self) -> Question:
        return self.questions[0]

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)

    def next_question(self, after: str, rating: Rating) -> Question | None:
        """The question that follows `after` for a citizen who gave `rating`."""
        ids = [q.id for q in self.questions]
        for question in self.questions[ids.index(after) + 1 :]:
            if rating in question.show_for:
                return question
        return None


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a question-set file: where, which key, and what."""

    line: int | None
    path: str
    kind: str
    context: dict[str, Any]
    message: str  # pydantic's English wording, used where the catalog has none

    def describe(self, language: Language) -> str:
        key = f"error_{self.kind}"
        words = text(key, language, **self.context) if key in CATALOG else self.message
        where = text("error_line", language, line=self.line) if self.line else ""
        return f"{where}{self.path}: {words}"


class QuestionSetError(ValueError):
    """A question-set file that cannot be used; the message names the line, the key and the problem."""

    def __init__(
        self,
        name: str,
        problems: Sequence[Problem] = (),
        detail: str = "",
        *,
        refusal: YamlRefused | None = None,
        more: int = 0,
    ) -> None:
        self.name, self.problems, self.detail = name, tuple(problems), detail
        self.refusal, self.more = refusal, more  # more: problems found beyond those listed
        super().__init__(self.describe("en"))

    def describe(self, language: Language) -> str:
        """The problems in the reader's language, separated by '; '."""
        if self.refusal is not None:
            return f"{self.name}: {self.refusal.describe(language)}"
        found = [problem.describe(language) for problem in self.problems]
        if self.more:
            found.append(text("error_more", language, count=self.more))
        return f"{self.name}: {'; '.join(found) or self.detail}"


def parse_question_set(source: str, name: str = "<question set>") -> QuestionSet:
    """The set a YAML text describes; errors name the line and the key (the first MAX_PROBLEMS of
    them: a file with thousands of mistakes gets an answer that fits a message)."""
    try:
        return _read_set(source)
    except ValidationError as exc:
        errors = exc.errors()
        root = _composed(source)
        problems = [
            Problem(_line_of(root, error["loc"]), _path(error["loc"]), error["type"],
                    {k: _shown(v) for k, v in (error.get("ctx") or {}).items()}, error["msg"])
            for error in errors[:MAX_PROBLEMS]
        ]  # fmt: skip
        raise QuestionSetError(name, problems, more=len(errors) - len(problems)) from exc
    except YamlRefused as exc:
        raise QuestionSetError(name, refusal=exc) from exc
    except yaml.YAMLError as exc:
        raise QuestionSetError(name, detail=f"not valid YAML: {exc}") from exc
    except ValueError as exc:  # PyYAML turns 2026-13-01 into a date and fails there
        raise QuestionSetError(name, detail=f"a value cannot be read: {exc}") from exc


@functools.lru_cache(maxsize=16)
def _read_set(source: str) -> QuestionSet:
    """A valid set, remembered by its text for a while: a file an admin sends is checked, compared
    with the default set, stored and previewed, and each step would read the same text again."""
    return QuestionSet.model_validate(load_yaml(source))


def _shown(value: object) -> object:
    return value if isinstance(value, int | float | str) else str(value)


def _path(location: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in location) or "top level"


def _composed(source: str) -> yaml.Node | None:
    try:
        return compose_yaml(source)
    except yaml.YAMLError:
        return None


def _line_of(node: yaml.Node | None, location: tuple[int | str, ...]) -> int | None:
    """The line of the deepest YAML node the error's location reaches."""
    if node is None:
        return None
    for part in location:
        if isinstance(node, yaml.MappingNode):
            found = next((value for key, value in node.value if key.value == part), None)
            if found is None:
                break
            node = found
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
    return node.start_mark.line + 1


def load_question_set(path: str | Path | None) -> QuestionSet:
    """The set at `path`, or the default set shipped with the package when `path` is None."""
    if path is None:
        source = (resources.files("handlers") / "question_sets" / "default.yaml").read_text(encoding="utf-8")
        return parse_question_set(source, "default.yaml")
    try:
        source = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise QuestionSetError(str(path), detail=f"cannot be read: {exc.strerror}") from exc
    return parse_question_set(source, str(path))
