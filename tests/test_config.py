"""The config: defaults, the shipped config.yaml, and a clear message for every mistake."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot.config import Config, ConfigError, config_named, config_path, load_config

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_config_is_valid_and_matches_the_documented_keys(monkeypatch):
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.delenv("FEEDBACK_BOT_SECRET", raising=False)
    config = load_config(REPO / "config.yaml", must_exist=True)
    assert config.timezone == "Asia/Ho_Chi_Minh" and config.language == "vi"
    assert config.database == REPO / "data" / "feedback.db"
    assert [u.code for u, _ in config.all_units()] == ["Q1", "Q1-BN"]
    assert dict((u.code, p) for u, p in config.all_units())["Q1-BN"] == "Q1"
    assert config.survey.cooldown_days == 7 and config.telegram.token is None
    assert config.telegram.username == "HcmFeedbackBot"
    assert config.digest.time == "07:30" and config.digest.hour_minute == (7, 30)
    assert config.cases.open_on == ("unsatisfied",) and config.cases.deadline_working_days == 3
    assert date(2026, 9, 2) in config.cases.holidays


def test_a_short_file_gets_defaults(tmp_path):
    config = load_config(write(tmp_path, "secret: s3cret\n"))
    assert config.question_set is None and config.database == tmp_path / "data" / "feedback.db"
    assert config.telegram.base_url == "https://api.telegram.org/bot"


def test_relative_paths_are_taken_from_the_config_folder(tmp_path):
    config = load_config(write(tmp_path, "database: db/x.db\nquestion_set: q.yaml\n"))
    assert config.database == tmp_path / "db" / "x.db" and config.question_set == tmp_path / "q.yaml"


def test_environment_overrides_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "999:XYZ")
    monkeypatch.setenv("FEEDBACK_BOT_SECRET", "from-env")
    config = load_config(write(tmp_path, "secret: in-file\ntelegram: {username: SomeBot}\n"))
    assert config.telegram.token.get_secret_value() == "999:XYZ"
    assert config.telegram.username == "SomeBot"
    assert config.secret.get_secret_value() == "from-env"
    assert "from-env" not in repr(config) and "999:XYZ" not in repr(config)


def test_config_path_order(monkeypatch):
    monkeypatch.delenv("FEEDBACK_BOT_CONFIG", raising=False)
    assert config_path(None) == Path("config.yaml")
    monkeypatch.setenv("FEEDBACK_BOT_CONFIG", "/etc/fb.yaml")
    assert config_path(None) == Path("/etc/fb.yaml")
    assert config_path("mine.yaml") == Path("mine.yaml")


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("databse: x.db\n", "databse: unknown key"),
        ("survey: {cooldown_dayz: 3}\n", "survey.cooldown_dayz: unknown key"),
        ("survey: {cooldown_days: -1}\n", "survey.cooldown_days"),
        ("survey: {cooldown_days: lots}\n", "survey.cooldown_days"),
        ("language: fr\n", "language"),
        ("timezone: Mars/Olympus\n", "timezone: unknown time zone 'Mars/Olympus'"),
        ("secret: '  '\n", "secret: the secret must not be empty"),
        ("telegram: {username: 'bad name!'}\n", "telegram.username"),
        ("units: [{code: Q1, name: A}, {code: Q1, name: B}]\n", "the unit code 'Q1' appears more than once"),
        ("units: [{code: Q1, name: A, children: [{code: Q1, name: B}]}]\n", "'Q1' appears more than once"),
        ("units: [{code: Q1}]\n", "units: Q1: name: Field required"),
        ("units: [{code: Q1, name: A, head: {name: X, telegram: abc}}]\n", "units: Q1: head.telegram"),
        ("units: [{code: Q1, name: A, children: [{code: Q1-BN}]}]\n", "units: Q1-BN: name: Field required"),
        ("units: [{name: A}]\n", "units.0.code: Field required"),  # no code to name it by
        ("units: Q1\n", "units: Input should be a list"),
        ("cases: {holidays: 2026-01-01}\n", "cases.holidays: Input should be a list"),
        ("admins: [{name: Quản trị, telegram: nine}]\n", "admins: Quản trị: telegram"),
        ("digest: {time: 24:00}\n", "digest.time: '24:00' is not a time of day like 07:30 or 17:30"),
        ("- just\n- a list\n", "the top level must be a mapping"),
        ("digest: {time: '7h30'}\n", "digest.time"),
        ("zalo: {mode: webhook, secret: '12345678'}\n", "webhook mode needs zalo.url"),
        ("zalo: {mode: webhook, url: 'https://x.vn/z', secret: short}\n", "zalo.secret of 8 to 256"),
        ("zalo: {mode: carrier-pigeon}\n", "zalo.mode"),
        ("digest: {time: '25:00'}\n", "digest.time"),
        ("cases: {open_on: [angry]}\n", "cases.open_on.0"),
        ("cases: {holidays: [2026-13-01]}\n", "month must be in 1..12 (check the dates)"),
        ("cases: {holidays: [tomorrow]}\n", "cases.holidays.0"),
        ("cases: {deadline_working_days: 0}\n", "cases.deadline_working_days"),
        ("database: [unclosed\n", "not valid YAML"),
        ("api: {port: 99999}\n", "api.port: Input should be less than or equal to 65535"),
        ("api: {rate_per_second: 0}\n", "api.rate_per_second"),
        ("api: {max_body_bytes: 10}\n", "api.max_body_bytes"),
        ("api: {listen: ''}\n", "api.listen"),
        ("api: {lisen: 0.0.0.0}\n", "api.lisen: unknown key"),
    ],
)
def test_mistakes_stop_start_up_with_the_key_named(tmp_path, text, named):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    assert named in str(caught.value)
    assert str(tmp_path / "config.yaml") in str(caught.value)
    assert "valid tuple" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "time"),
    [
        ("digest:\n  time: 17:30\n", "17:30"),  # YAML 1.1 would read 1050, a number in base 60
        ("digest:\n  time: 7:05\n", "07:05"),
        ("digest:\n  time: '07:30'\n", "07:30"),
        ("digest: {time: 00:00}\n", "00:00"),
    ],
)
def test_a_time_of_day_may_be_written_without_quotes(tmp_path, text, time):
    digest = load_config(write(tmp_path, text)).digest
    assert digest.time == time and digest.hour_minute == tuple(int(part) for part in time.split(":"))


def test_the_api_is_off_unless_its_section_is_there(tmp_path):
    assert load_config(write(tmp_path, "secret: s\n")).api is None
    assert load_config(write(tmp_path, "api:\n")).api is None
    api = load_config(write(tmp_path, "api: {}\n")).api
    assert api is not None and (api.listen, api.port) == ("127.0.0.1", 8080)
    assert (api.rate_per_second, api.burst, api.max_body_bytes) == (50, 200, 1_000_000)
    api = load_config(write(tmp_path, "api: {listen: 0.0.0.0, port: 9000, burst: 10}\n")).api
    assert api is not None and (api.listen, api.port, api.burst) == ("0.0.0.0", 9000, 10)


def test_a_named_config_file_must_exist(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.yaml", must_exist=True)
    assert isinstance(load_config(tmp_path / "missing.yaml"), Config)


def test_the_config_knows_the_file_it_was_read_from(tmp_path, monkeypatch):
    assert load_config(write(tmp_path, "secret: s\n")).source == tmp_path / "config.yaml"
    assert load_config(tmp_path / "missing.yaml").source is None  # the defaults: no file
    monkeypatch.chdir(tmp_path)
    assert load_config(Path("config.yaml")).source == tmp_path / "config.yaml"  # absolute, for the log
    monkeypatch.delenv("FEEDBACK_BOT_CONFIG", raising=False)
    assert not config_named(None) and config_named("mine.yaml")
    monkeypatch.setenv("FEEDBACK_BOT_CONFIG", "/etc/fb.yaml")
    assert config_named(None)


def test_a_postgresql_address_is_kept_as_written_and_a_path_is_a_file(tmp_path):
    url = "postgresql://feedback_bot@db.internal:5433/feedback"
    assert load_config(write(tmp_path, f"database: {url}\n")).database == url
    assert load_config(write(tmp_path, "database: postgresql:///?service=feedback\n")).database == (
        "postgresql:///?service=feedback"
    )
    assert load_config(write(tmp_path, "database: data/x.db\n")).database == tmp_path / "data" / "x.db"


@pytest.mark.parametrize(
    ("address", "named"),
    [
        ("postgresql://bot:hunter2@db/feedback", "FEEDBACK_BOT_DATABASE_PASSWORD"),
        ("postgresql://bot@db/feedback?password=hunter2", "FEEDBACK_BOT_DATABASE_PASSWORD"),
        ("postgresql://bot@db", "names no database"),
        ("mysql://bot@db/feedback", "mysql:// is not a database this bot knows"),
    ],
)
def test_a_database_address_the_bot_cannot_use_stops_start_up(tmp_path, address, named):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, f"database: {address}\n"))
    assert named in str(caught.value) and "hunter2" not in str(caught.value)
