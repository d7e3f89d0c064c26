"""The deployment recipe in deploy/, checked offline: the systemd unit, nginx's upstreams and
locations, the environment file's names against the code that reads them, and the PostgreSQL
settings against a real server."""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

import psycopg
import pytest

from bot.cli.parser import build_parser
from bot.config import ZaloOAConfig
from tests import postgresql

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "feedback-bot@.service"
NGINX = DEPLOY / "nginx.conf"
ENV_EXAMPLE = DEPLOY / "env.example"
POSTGRESQL_SNIPPET = DEPLOY / "postgresql.conf.snippet"
INSTANCES = ("1", "2")  # deploy/README.md starts feedback-bot@1 and feedback-bot@2

# Variables the deploy files name that the code of this branch does not read yet, and where they come
# from. Strict xfail: once the code reads one, its test passes and fails the run: take it out.
PENDING: dict[str, str] = {}  # variables the deploy files name before the code reads them
# Variables the code reads that are no secret of a deployment, so env.example need not list them.
NOT_SECRETS = {"FEEDBACK_BOT_CONFIG", "FEEDBACK_BOT_API_PORT", "FEEDBACK_BOT_ZALO_PORT"}


def read_unit() -> configparser.ConfigParser:
    # strict: a key given twice in a section is an error here, as it is a surprise in a unit file.
    unit = configparser.ConfigParser(strict=True, interpolation=None, delimiters=("=",))
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(UNIT.read_text(encoding="utf-8"))
    return unit


def unit_environment() -> dict[str, str]:
    """The unit's Environment= assignments, for instance %i."""
    return dict(item.split("=", 1) for item in shlex.split(read_unit()["Service"].get("Environment", "")))


def api_port(instance: str, variable: str = "FEEDBACK_BOT_API_PORT") -> int:
    return int(unit_environment()[variable].replace("%i", instance))


def names_read_by_the_code() -> set[str]:
    """Environment variables bot/, handlers/ and storage/ read: ENV_ constants and literal names."""
    found: set[str] = set()
    for folder in ("bot", "handlers", "storage"):
        for source in (ROOT / folder).rglob("*.py"):
            text = source.read_text(encoding="utf-8")
            found.update(re.findall(r'^\s*ENV_\w+\s*=\s*"([A-Z0-9_]+)"', text, flags=re.M))
            found.update(re.findall(r'(?:environ\.get|getenv|environ\[)\(?\s*"([A-Z0-9_]+)"', text))
    return found


def env_example_names() -> list[str]:
    return re.findall(r"^([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(encoding="utf-8"), flags=re.M)


def nginx_upstreams() -> dict[str, list[tuple[str, int]]]:
    text = NGINX.read_text(encoding="utf-8")
    return {
        name: [
            (host, int(port)) for host, port in re.findall(r"^\s*server\s+([\w.\[\]:]+):(\d+)", body, re.M)
        ]
        for name, body in re.findall(r"upstream\s+(\w+)\s*\{(.*?)\}", text, flags=re.S)
    }


def nginx_locations() -> dict[str, str]:
    """Each location (its match, `= /path` or `/prefix/`) and the upstream it proxies to."""
    text = NGINX.read_text(encoding="utf-8")
    found = {}
    for match, body in re.findall(r"location\s+((?:=\s*)?\S+)\s*\{(.*?)\}", text, flags=re.S):
        target = re.search(r"proxy_pass\s+http://(\w+)\s*;", body)
        found[re.sub(r"\s+", " ", match)] = target[1] if target else ""
    return found


def without_comments(text: str) -> str:
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


# The systemd unit


def test_the_unit_runs_the_bot_with_the_config_of_etc() -> None:
    service = read_unit()["Service"]
    program, *arguments = shlex.split(service["ExecStart"])
    assert program == "/opt/feedback-bot/.venv/bin/feedback-bot"
    args = build_parser().parse_args(arguments)
    assert (args.command, args.config) == ("run", "/etc/feedback-bot/config.yaml")
    assert service["EnvironmentFile"] == "/etc/feedback-bot/env"


def test_the_unit_restarts_on_failure_as_its_own_user() -> None:
    unit = read_unit()
    service = unit["Service"]
    assert service["Restart"] == "on-failure"
    assert float(service["RestartSec"]) > 0
    assert service["User"] not in ("", "root") and service["Group"] not in ("", "root")
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_the_unit_is_hardened_and_may_write_its_state_folder() -> None:
    service = read_unit()["Service"]
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["PrivateTmp"] == "yes"
    state = f"/var/lib/{service['StateDirectory']}"
    writable = service["ReadWritePaths"].split()
    assert state in writable
    assert any(service["WorkingDirectory"].startswith(path) for path in writable)


def test_each_instance_has_a_port_of_its_own() -> None:
    ports = [api_port(instance) for instance in INSTANCES]
    assert len(set(ports)) == len(ports)
    assert all(1024 <= port <= 65535 for port in ports)


# nginx


def test_nginx_balances_over_the_ports_of_the_instances() -> None:
    upstreams = nginx_upstreams()
    assert sorted(upstreams["feedback_bot"]) == [("127.0.0.1", api_port(i)) for i in INSTANCES]
    assert sorted(upstreams["feedback_bot_zalo"]) == [
        ("127.0.0.1", api_port(i, "FEEDBACK_BOT_ZALO_PORT")) for i in INSTANCES
    ]


def test_nginx_routes_the_webhooks_the_api_and_health() -> None:
    locations = nginx_locations()
    assert locations["= /telegram"] == "feedback_bot"
    assert locations[f"= {ZaloOAConfig.model_fields['webhook_path'].default}"] == "feedback_bot"
    assert locations["= /zalo"] == "feedback_bot_zalo"
    assert locations["/api/"] == "feedback_bot"
    assert locations["= /healthz"] == "feedback_bot"
    # /readyz and /metrics are asked of each process, not of whichever nginx picks; nothing else is
    # passed on.
    assert set(locations.values()) <= {"feedback_bot", "feedback_bot_zalo", ""}
    assert not any("metrics" in match or "readyz" in match for match in locations)
    assert locations["/"] == ""


def test_nginx_passes_on_who_asked() -> None:
    text = without_comments(NGINX.read_text(encoding="utf-8"))
    assert text.count("{") == text.count("}")
    for header in ("Host", "X-Real-IP", "X-Forwarded-For", "X-Forwarded-Proto"):
        assert re.search(rf"proxy_set_header\s+{header}\s", text), header


# The environment file


def test_env_example_holds_no_secret() -> None:
    lines = without_comments(ENV_EXAMPLE.read_text(encoding="utf-8")).split()
    assert lines and all(line.endswith("=") for line in lines)


def _read_by_the_code(name: str) -> None:
    assert name in names_read_by_the_code(), f"{name} is read nowhere in bot/, handlers/ or storage/"


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=f"comes with {PENDING[name]}"))
        if name in PENDING
        else name
        for name in sorted({*env_example_names(), *unit_environment()})
    ],
)
def test_each_variable_the_deploy_files_set_is_read_by_the_code(name: str) -> None:
    _read_by_the_code(name)


def test_env_example_lists_every_secret_the_code_reads() -> None:
    missing = names_read_by_the_code() - set(env_example_names()) - NOT_SECRETS
    assert not missing, f"add to deploy/env.example, or to NOT_SECRETS here: {sorted(missing)}"


# PostgreSQL


def snippet_settings() -> dict[str, str]:
    settings = {}
    for line in without_comments(POSTGRESQL_SNIPPET.read_text(encoding="utf-8")).splitlines():
        if line.strip():
            name, value = (part.strip() for part in line.split("=", 1))
            settings[name] = value.strip("'")
    return settings


def test_a_dead_bots_lock_is_released_in_time_for_a_takeover_within_10_seconds() -> None:
    settings = snippet_settings()
    idle, interval, count = (int(settings[f"tcp_keepalives_{key}"]) for key in ("idle", "interval", "count"))
    assert idle + interval * count < 10
    assert int(settings["tcp_user_timeout"]) < 10_000


def test_postgresql_takes_every_setting_of_the_snippet() -> None:
    binaries = postgresql.find_binaries()
    if binaries is None:
        pytest.skip(f"no PostgreSQL to try the settings on: {postgresql.HOW_TO_GET_ONE}")
    server = postgresql.ThrowawayServer.make(binaries)
    try:
        # A value PostgreSQL does not take, or a name it does not know, stops it from starting.
        server.start(POSTGRESQL_SNIPPET.read_text(encoding="utf-8"))
        with psycopg.connect(server.url) as connection:
            rows = connection.execute(
                "SELECT lower(name), source FROM pg_settings WHERE lower(name) = ANY(%s)",
                [list(snippet_settings())],
            ).fetchall()
    finally:
        server.stop()
    sources: dict[str, str] = dict(rows)
    assert set(sources) == set(snippet_settings())
    taken = {name for name, source in sources.items() if source == "configuration file"}
    # The test server's own command line outranks the file for the few it sets.
    assert taken == set(snippet_settings()) - set(postgresql.SERVER_SETTINGS)


def test_the_recipe_names_every_file_of_deploy() -> None:
    recipe = (DEPLOY / "README.md").read_text(encoding="utf-8")
    for path in DEPLOY.iterdir():
        if path.name != "README.md":
            assert f"`{path.name}`" in recipe, path.name
