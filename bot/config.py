"""The configuration: one frozen pydantic model loaded from YAML, with environment overrides for
secrets. A wrong key or value stops start-up with a message that names the key (a unit by its
code). The model remembers which file it was read from, if any: commands say so, and refuse to
create a database from defaults alone."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from handlers.directory import PersonConfig, UnitConfig, check_tree, walk_units
from handlers.letters import check_letter_template
from handlers.texts import Language
from handlers.yaml_safe import YamlRefused, load_yaml
from storage.backends import is_postgresql

DEFAULT_PATH = "config.yaml"
ENV_CONFIG = "FEEDBACK_BOT_CONFIG"
ENV_SECRET = "FEEDBACK_BOT_SECRET"
ENV_TELEGRAM_TOKEN = "TELEGRAM_BOT_TOKEN"
ENV_ZALO_TOKEN = "ZALO_BOT_TOKEN"
ENV_ZALO_SECRET = "ZALO_WEBHOOK_SECRET"
ENV_TELEGRAM_SECRET = "TELEGRAM_WEBHOOK_SECRET"
# The HTTP server's port (api.port), for a second process on the same machine behind nginx.
ENV_API_PORT = "FEEDBACK_BOT_API_PORT"
# The Zalo Bot Platform webhook's port (zalo.port), likewise for a second process on the machine.
ENV_ZALO_PORT = "FEEDBACK_BOT_ZALO_PORT"
ENV_DATABASE_PASSWORD = "FEEDBACK_BOT_DATABASE_PASSWORD"
PLACEHOLDER_SECRET = "change-me"


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SurveyConfig(Section):
    cooldown_days: int = Field(default=7, ge=0, le=365)
    link_valid_days: int = Field(default=60, ge=1, le=3650)
    # How often the running bot looks for returned dossiers whose citizen waits for the survey.
    invitation_check_seconds: float = Field(default=10, ge=0.2, le=60)


class TelegramConfig(Section):
    token: SecretStr | None = None
    username: str = Field(default="HcmFeedbackBot", pattern=r"^[A-Za-z][A-Za-z0-9_]{3,31}$")
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    # Telegram's limits: about 30 messages a second overall, and about one a second in a chat
    # (short bursts allowed).
    messages_per_second: float = Field(default=30, gt=0)
    chat_burst: int = Field(default=3, ge=1)
    # polling: one process long-polls (with PostgreSQL, the elected leader). webhook: Telegram POSTs
    # updates to `url` (public HTTPS, behind a reverse proxy), which reaches the HTTP server of the
    # api: section at the url's path; every process answers what reaches it.
    mode: Literal["polling", "webhook"] = "polling"
    url: str | None = Field(default=None, pattern=r"^https?://[^/?#]+/[A-Za-z0-9/_.-]*$")
    # env TELEGRAM_WEBHOOK_SECRET overrides; Telegram sends it in X-Telegram-Bot-Api-Secret-Token
    secret: SecretStr | None = None

    @model_validator(mode="after")
    def _webhook_complete(self) -> TelegramConfig:
        if self.mode == "webhook":
            if self.url is None:
                raise ValueError(
                    "webhook mode needs telegram.url, the public address Telegram posts updates to"
                )
            if self.secret is None or not re.fullmatch(
                r"[A-Za-z0-9_-]{1,256}", self.secret.get_secret_value()
            ):
                raise ValueError(
                    "webhook mode needs telegram.secret (or TELEGRAM_WEBHOOK_SECRET) of 1 to 256 characters "
                    "A-Z, a-z, 0-9, _ and -"
                )
        return self

    @property
    def webhook_path(self) -> str:
        """Where the webhook's calls arrive at this process: the path of `url`."""
        return urlsplit(self.url).path if self.url is not None else "/"


class ZaloConfig(Section):
    token: SecretStr | None = None  # env ZALO_BOT_TOKEN overrides; the channel is on when set
    base_url: str = "https://bot-api.zaloplatforms.com/bot"
    mode: Literal["polling", "webhook"] = "polling"
    # webhook mode: Zalo POSTs updates to `url`, which reaches this process at listen:port
    listen: str = "127.0.0.1"
    port: int = Field(default=8443, ge=1, le=65535)
    url: str | None = Field(default=None, pattern=r"^https?://")
    secret: SecretStr | None = None  # env ZALO_WEBHOOK_SECRET overrides; 8 to 256 characters

    @model_validator(mode="after")
    def _webhook_complete(self) -> ZaloConfig:
        if self.mode == "webhook":
            if self.url is None:
                raise ValueError("webhook mode needs zalo.url, the public address Zalo posts updates to")
            if self.secret is None or not 8 <= len(self.secret.get_secret_value()) <= 256:
                raise ValueError("webhook mode needs zalo.secret of 8 to 256 characters")
        return self


class DigestConfig(Section):
    time: str = "07:30"  # local, in `timezone`
    show: int = Field(default=5, ge=1, le=50)  # new complaints shown with buttons; the rest are counted

    @field_validator("time", mode="before")
    @classmethod
    def _time_of_day(cls, value: object) -> object:
        found = re.fullmatch(r"([01]?[0-9]|2[0-3]):([0-5][0-9])", value) if isinstance(value, str) else None
        if found is None:
            raise ValueError(f"{value!r} is not a time of day like 07:30 or 17:30")
        return f"{int(found[1]):02d}:{found[2]}"

    @property
    def hour_minute(self) -> tuple[int, int]:
        hour, minute = self.time.split(":")
        return int(hour), int(minute)


class NewCaseNoticeConfig(Section):
    """New complaints told to the unit's head as they open; those opening close together go as one."""

    enabled: bool = True
    quiet_seconds: int = Field(default=120, ge=0, le=3600)  # wait until none opened for this long
    max_wait_seconds: int = Field(default=900, ge=0, le=86400)  # but no longer than this


class CasesConfig(Section):
    open_on: tuple[Literal["satisfied", "neutral", "unsatisfied"], ...] = ("unsatisfied",)
    deadline_working_days: int = Field(default=3, ge=1, le=60)
    contact_hours: int = Field(default=48, ge=1, le=720)  # asked of the staff member assigned
    holidays: tuple[date, ...] = ()
    new_case_notice: NewCaseNoticeConfig = NewCaseNoticeConfig()


class ApiConfig(Section):
    """The intake API for the one-stop software (bot/http/): served by `run` when this section is
    present, and by `feedback-bot api` alone."""

    listen: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=8080, ge=0, le=65535)  # 0: any free port, told in the log
    # Each API key's requests: `rate_per_second` on average, `burst` at once; then 429.
    rate_per_second: float = Field(default=50, gt=0)
    burst: int = Field(default=200, ge=1)
    # A larger request body is refused (413) before it is read; a batch of 1,000 dossiers is
    # about 300 KB.
    max_body_bytes: int = Field(default=1_000_000, ge=1024)


class LetterTemplates(Section):
    """Admins' own wording of the apology letter's body, by language; absent: the catalog's. The
    placeholders are listed in handlers/letters.py and README.md."""

    vi: str | None = None
    en: str | None = None

    @field_validator("vi", "en")
    @classmethod
    def _known_placeholders(cls, value: str | None) -> str | None:
        if value is not None:
            check_letter_template(value)
        return value


class LettersConfig(Section):
    template: LetterTemplates = LetterTemplates()

    def template_for(self, language: Language) -> str | None:
        return self.template.vi if language == "vi" else self.template.en


class PrivacyConfig(Section):
    """Personal data (Law 91/2025/QH15): who is responsible for it, whether citizens are asked to
    consent before their answers are kept, and how long names, phones, chat links and free texts
    are kept after a dossier's last activity (ratings and factors stay, anonymous)."""

    controller: str | None = Field(default=None, min_length=1, max_length=300)
    consent: Literal["notice", "explicit"] = "notice"
    retention_days: int = Field(default=730, ge=1, le=36500)


# A case lives at most this long past its deadline: a resolution may be refused and the case
# reopened, and a retention period shorter than a case's life would erase a complaint being handled.
REOPENING_DAYS = 30


# ---- Zalo Official Account (OA) and ZNS: bot/channels/zalo_oa/ ----
ENV_ZALO_OA_APP_SECRET = "ZALO_OA_APP_SECRET"
ENV_ZALO_OA_SECRET_KEY = "ZALO_OA_SECRET_KEY"
ENV_ZALO_OA_REFRESH_TOKEN = "ZALO_OA_REFRESH_TOKEN"
# The secrets of `zalo_oa:` and the variable each comes from: never from the config file.
ZALO_OA_SECRETS = {
    "app_secret": ENV_ZALO_OA_APP_SECRET,
    "secret_key": ENV_ZALO_OA_SECRET_KEY,
    "refresh_token": ENV_ZALO_OA_REFRESH_TOKEN,
}
# What a ZNS template parameter may be filled with: a field of the dossier (or of its case).
ZnsField = Literal[
    "citizen_name", "code", "procedure", "unit_name", "received_date", "due_date", "new_due_date",
    "reason", "resolution_note", "case_id",
]  # fmt: skip
StarLevel = Literal["satisfied", "neutral", "unsatisfied"]


class ZnsTemplateConfig(Section):
    """An approved ZNS template: its id at Zalo, and each of its parameters filled from a field."""

    id: str = Field(min_length=1, max_length=64)
    params: dict[str, ZnsField] = {}


class ZaloOAConfig(Section):
    """A Zalo Official Account: chat with followers (48 hours after their last message) and ZNS
    template messages to phone numbers. Its webhook is served by the `api:` section's HTTP server."""

    app_id: str = Field(min_length=1, max_length=64)
    oa_id: str = Field(min_length=1, max_length=64)
    api_url: str = Field(default="https://openapi.zalo.me", pattern=r"^https?://")
    oauth_url: str = Field(default="https://oauth.zaloapp.com", pattern=r"^https?://")
    zns_url: str = Field(default="https://business.openapi.zalo.me", pattern=r"^https?://")
    webhook_path: str = Field(default="/zalo-oa/webhook", pattern=r"^/[A-Za-z0-9/_.-]*$", max_length=200)
    templates: dict[str, ZnsTemplateConfig] = {}
    # Stars of a ZNS rating (1 to 5) by the level each counts as; each of 1..5 exactly once.
    stars: dict[StarLevel, tuple[int, ...]] = {"satisfied": (4, 5), "neutral": (3,), "unsatisfied": (1, 2)}
    # A quick-feedback chip's text, as the rating template shows it, -> the SIPAS factor it points at.
    chips: dict[str, Literal["access", "procedure", "staff", "result", "feedback"]] = {}
    # From the environment only (ZALO_OA_APP_SECRET, ZALO_OA_SECRET_KEY, ZALO_OA_REFRESH_TOKEN).
    app_secret: SecretStr | None = None
    secret_key: SecretStr | None = None
    refresh_token: SecretStr | None = None

    @field_validator("webhook_path")
    @classmethod
    def _outside_the_intake_api(cls, value: str) -> str:
        if value == "/api" or value.startswith("/api/"):
            raise ValueError(
                "the webhook path must not be under /api/, where the intake API's keys are asked"
            )
        return value

    @field_validator("stars")
    @classmethod
    def _every_star_once(cls, value: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
        given = sorted(star for stars in value.values() for star in stars)
        if given != [1, 2, 3, 4, 5]:
            raise ValueError(f"each of the stars 1 to 5 must be given exactly once, not {given}")
        return value

    def level_of(self, stars: int) -> StarLevel:
        """The level a rating of `stars` (1 to 5) counts as."""
        for level, given in self.stars.items():
            if stars in given:
                return level
        raise ValueError(f"{stars} stars: a rating is 1 to 5 stars")


class ReportsConfig(Section):
    """`feedback-bot report`: a row with fewer answers than this shows its counts, and its shares are
    marked too few to compare."""

    min_answers: int = Field(default=30, ge=1, le=1_000_000)


Person = PersonConfig


class Config(Section):
    timezone: str = "Asia/Ho_Chi_Minh"
    language: Literal["vi", "en"] = "vi"
    # A SQLite file (the embedded default), or postgresql://user@host[:port]/db for several processes;
    # its password comes from FEEDBACK_BOT_DATABASE_PASSWORD, a libpq service file or ~/.pgpass.
    database: Path | str = Path("data/feedback.db")
    secret: SecretStr = SecretStr(PLACEHOLDER_SECRET)
    question_set: Path | None = None
    survey: SurveyConfig = SurveyConfig()
    telegram: TelegramConfig = TelegramConfig()
    zalo: ZaloConfig = ZaloConfig()
    digest: DigestConfig = DigestConfig()
    cases: CasesConfig = CasesConfig()
    api: ApiConfig | None = None  # absent: `run` serves no HTTP API
    zalo_oa: ZaloOAConfig | None = None  # absent: no Zalo Official Account
    letters: LettersConfig = LettersConfig()
    privacy: PrivacyConfig = PrivacyConfig()

    reports: ReportsConfig = ReportsConfig()
    admins: tuple[Person, ...] = ()
    units: tuple[UnitConfig, ...] = ()
    _source: Path | None = PrivateAttr(default=None)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use a name such as Asia/Ho_Chi_Minh)") from exc
        return value

    @field_validator("database", mode="plain")
    @classmethod
    def _database(cls, value: Any) -> Path | str:
        if isinstance(value, Path):
            return value
        if not isinstance(value, str) or not value.strip():
            raise ValueError("give a file path for SQLite, or postgresql://user@host/db")
        if not is_postgresql(value):
            if "://" in value:
                raise ValueError(
                    f"{value.split('://')[0]}:// is not a database this bot knows: use postgresql://"
                )
            return Path(value)
        try:
            parts = urlsplit(value)
            password = parts.password
        except ValueError as exc:
            raise ValueError(f"the PostgreSQL address cannot be read: {exc}") from None
        if password or "password=" in parts.query:
            raise ValueError(
                f"the password must not be written in the config: set {ENV_DATABASE_PASSWORD}, or use a "
                "libpq service file or ~/.pgpass"
            )
        if not parts.path.strip("/") and "service=" not in parts.query:
            raise ValueError("the PostgreSQL address names no database: postgresql://user@host/DATABASE")
        return value

    @field_validator("secret")
    @classmethod
    def _secret_not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("the secret must not be empty")
        return value

    @model_validator(mode="after")
    def _unique_unit_codes(self) -> Config:
        check_tree(self.units)  # the tree a directory file may hold, so `directory import` takes it too
        seen: set[str] = set()
        for unit, _ in self.all_units():
            if unit.code in seen:
                raise ValueError(f"units: the unit code {unit.code!r} appears more than once")
            seen.add(unit.code)
        return self

    @model_validator(mode="after")
    def _retention_outlives_a_case(self) -> Config:
        shortest = self.case_life_days
        if self.privacy.retention_days < shortest:
            raise ValueError(
                f"privacy.retention_days: {self.privacy.retention_days} days is shorter than a complaint's"
                f" life ({shortest} days: the survey link's {self.survey.link_valid_days}, the case"
                f" deadline's {self.cases.deadline_working_days} working days, {REOPENING_DAYS} for a"
                " reopening); "
                "personal data would be erased while the complaint is handled"
            )
        return self

    @property
    def case_life_days(self) -> int:
        """The longest a complaint may be handled, counted from its dossier's return, in days."""
        deadline_days = -(-self.cases.deadline_working_days * 7 // 5)  # working days, rounded up
        return self.survey.link_valid_days + deadline_days + REOPENING_DAYS

    @model_validator(mode="after")
    def _zalo_oa_webhook_served(self) -> Config:
        if self.zalo_oa is not None and self.api is None:
            raise ValueError(
                "zalo_oa: its webhook is served by the HTTP server of the api: section, which is absent: "
                "add an api: section (for example api: {listen: 0.0.0.0, port: 8080})"
            )
        return self

    @model_validator(mode="after")
    def _telegram_webhook_served(self) -> Config:
        if self.telegram.mode != "webhook":
            return self
        if self.api is None:
            raise ValueError(
                "telegram: in webhook mode its webhook is served by the HTTP server of the api: section, "
                "which is absent: add an api: section (for example api: {listen: 127.0.0.1, port: 8080})"
            )
        path = self.telegram.webhook_path
        if path == "/api" or path.startswith("/api/"):
            raise ValueError(
                "telegram.url: the webhook's path must not be under /api/, where the intake API's keys "
                "are asked"
            )
        if self.zalo_oa is not None and path == self.zalo_oa.webhook_path:
            raise ValueError("telegram.url: the webhook's path is the Zalo OA webhook's")
        return self

    def all_units(self) -> Iterator[tuple[UnitConfig, str | None]]:
        return walk_units(self.units)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def source(self) -> Path | None:
        """The file this config was read from; None when no file was found and these are defaults."""
        return self._source


class ConfigError(Exception):
    """A config that cannot be used; the message names the file, the key and the problem."""


def config_path(given: str | None) -> Path:
    return Path(given or os.environ.get(ENV_CONFIG) or DEFAULT_PATH)


def config_named(given: str | None) -> bool:
    """Whether the person named a config file (--config or the environment): it must then exist."""
    return bool(given or os.environ.get(ENV_CONFIG))


def read_yaml(path: Path) -> Any:
    """A config-like YAML file as data, read as every YAML from people is (handlers/yaml_safe.py):
    no anchors or aliases, bounded nesting and size, times of day kept as text. Raises ConfigError."""
    try:
        return load_yaml(path.read_text(encoding="utf-8"))
    except YamlRefused as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    except ValueError as exc:  # PyYAML turns 2026-13-01 into a date and fails there
        raise ConfigError(f"{path}: a value cannot be read: {exc} (check the dates)") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from exc


def load_config(path: Path, *, must_exist: bool = False) -> Config:
    """Reads and validates the config; relative paths in it are taken from the file's folder.
    A missing file at the default place gives the defaults (and no `source`)."""
    data: Any = {}
    found = path.exists()
    if found:
        data = read_yaml(path) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of keys such as 'database:'")
    elif must_exist:
        raise ConfigError(f"{path}: no such file")
    data = _with_environment(data)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(path, exc, data)) from exc
    base = path.resolve().parent
    updates: dict[str, Any] = {}
    if isinstance(config.database, Path):
        updates["database"] = base / config.database
    if config.question_set is not None:
        updates["question_set"] = base / config.question_set
    config = config.model_copy(update=updates)
    config._source = path.resolve() if found else None
    return config


def _with_environment(data: dict[str, Any]) -> dict[str, Any]:
    data = dict(data)
    if secret := os.environ.get(ENV_SECRET):
        data["secret"] = secret
    for section, key, variable in (
        ("telegram", "token", ENV_TELEGRAM_TOKEN),
        ("zalo", "token", ENV_ZALO_TOKEN),
        ("zalo", "secret", ENV_ZALO_SECRET),
        ("telegram", "secret", ENV_TELEGRAM_SECRET),
    ):
        if value := os.environ.get(variable):
            given = data.get(section)
            data[section] = {**(given if isinstance(given, dict) else {}), key: value}
    if (port := os.environ.get(ENV_API_PORT)) and isinstance(data.get("api"), dict):
        data["api"] = {**data["api"], "port": port}  # validated as api.port is
    if port := os.environ.get(ENV_ZALO_PORT):
        given = data.get("zalo")
        data["zalo"] = {**(given if isinstance(given, dict) else {}), "port": port}  # as zalo.port is
    oa = data.get("zalo_oa")
    if isinstance(oa, dict):  # Zalo OA secrets: from the environment only
        in_file = [key for key in ZALO_OA_SECRETS if key in oa]
        if in_file:
            raise ConfigError(
                f"zalo_oa.{in_file[0]}: a secret is not written in the config file: "
                f"set {ZALO_OA_SECRETS[in_file[0]]} in the environment"
            )
        found = {
            key: value for key, variable in ZALO_OA_SECRETS.items() if (value := os.environ.get(variable))
        }
        data["zalo_oa"] = {**oa, **found}
    return data


# Lists whose items people know by a name: a unit by its code, an admin by their name.
_NAMED_BY = {"units": "code", "children": "code", "admins": "name"}


def _describe(path: Path, exc: ValidationError, data: Any) -> str:
    lines = []
    for error in exc.errors():
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key (check its spelling; see the config reference in README.md)"
        elif error["type"] == "tuple_type":
            message = "Input should be a list"
        lines.append(f"{path}: {_key(error['loc'], data)}: {message}")
    return "\n".join(lines)


def _key(loc: Sequence[int | str], data: Any) -> str:
    """Where an error is, as a person reads the file: `units: Q1-BN: head.telegram` rather than
    `units.0.children.0.head.telegram`."""
    named, node = None, data
    for n, part in enumerate(loc):
        node = _item(node, part)
        key = _NAMED_BY.get(str(loc[n - 1])) if n and isinstance(part, int) else None
        if key and isinstance(node, dict) and isinstance(node.get(key), str | int):
            named = (n, "admins" if key == "name" else "units", node[key])
    if named is None:
        return ".".join(str(part) for part in loc) or "top level"
    n, kind, name = named
    rest = ".".join(str(part) for part in loc[n + 1 :])
    return f"{kind}: {name}" + (f": {rest}" if rest else "")


def _item(node: Any, part: int | str) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None
