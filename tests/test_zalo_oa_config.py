"""The `zalo_oa:` section: defaults, templates mapped to dossier fields, stars and chips, secrets
from the environment only, and the api: section it needs for its webhook."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_config

SECRETS = ("ZALO_OA_APP_SECRET", "ZALO_OA_SECRET_KEY", "ZALO_OA_REFRESH_TOKEN")
MINIMAL = "api: {port: 0}\nzalo_oa: {app_id: '4291', oa_id: oa1}\n"


@pytest.fixture(autouse=True)
def no_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in SECRETS:
        monkeypatch.delenv(variable, raising=False)


def load(tmp_path: Path, text: str):
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def refused(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return str(caught.value)


def test_defaults(tmp_path):
    oa = load(tmp_path, MINIMAL).zalo_oa
    assert oa is not None and (oa.app_id, oa.oa_id) == ("4291", "oa1")
    assert oa.api_url == "https://openapi.zalo.me" and oa.oauth_url == "https://oauth.zaloapp.com"
    assert oa.zns_url == "https://business.openapi.zalo.me" and oa.webhook_path == "/zalo-oa/webhook"
    assert oa.templates == {} and oa.chips == {}
    assert [oa.level_of(n) for n in range(1, 6)] == ["unsatisfied"] * 2 + ["neutral"] + ["satisfied"] * 2
    assert (oa.app_secret, oa.secret_key, oa.refresh_token) == (None, None, None)
    assert load(tmp_path, "secret: s\n").zalo_oa is None


def test_templates_map_parameters_to_dossier_fields(tmp_path):
    config = load(
        tmp_path,
        MINIMAL.replace(
            "oa_id: oa1}",
            """oa_id: oa1, templates: {
        rating: {id: '412345', params: {ho_ten: citizen_name, ma_ho_so: code, ten_thu_tuc: procedure}},
        apology: {id: '412346', params: {ngay_hen_moi: new_due_date, ly_do: reason}}}}""",
        ),
    )
    assert config.zalo_oa is not None
    rating = config.zalo_oa.templates["rating"]
    assert rating.id == "412345" and rating.params == {
        "ho_ten": "citizen_name", "ma_ho_so": "code", "ten_thu_tuc": "procedure"}  # fmt: skip
    assert config.zalo_oa.templates["apology"].params["ly_do"] == "reason"


def test_a_wrong_field_is_refused_naming_the_key(tmp_path):
    message = refused(
        tmp_path,
        MINIMAL.replace("oa_id: oa1}", "oa_id: oa1, templates: {rating: {id: '1', params: {ho_ten: name}}}}"),
    )
    assert "zalo_oa.templates.rating.params.ho_ten" in message and "citizen_name" in message


def test_stars_must_cover_one_to_five_once(tmp_path):
    stars = "stars: {satisfied: [5], neutral: [3, 4], unsatisfied: [1, 2]}"
    custom = load(tmp_path, MINIMAL.replace("oa_id: oa1}", f"oa_id: oa1, {stars}}}"))
    assert custom.zalo_oa is not None and custom.zalo_oa.level_of(4) == "neutral"
    for wrong in ("[5], neutral: [3, 4], unsatisfied: [1]", "[4, 5], neutral: [3, 4], unsatisfied: [1, 2]"):
        message = refused(tmp_path, MINIMAL.replace(
            "oa_id: oa1}", f"oa_id: oa1, stars: {{satisfied: {wrong}}}}}"))  # fmt: skip
        assert "zalo_oa.stars" in message and "exactly once" in message
    assert "zalo_oa.stars.happy" in refused(
        tmp_path, MINIMAL.replace("oa_id: oa1}", "oa_id: oa1, stars: {happy: [1, 2, 3, 4, 5]}}")
    )


def test_chips_map_to_sipas_factors(tmp_path):
    config = load(tmp_path, MINIMAL.replace("oa_id: oa1}", "oa_id: oa1, chips: {'Chờ đợi lâu': procedure}}"))
    assert config.zalo_oa is not None and config.zalo_oa.chips == {"Chờ đợi lâu": "procedure"}
    assert "zalo_oa.chips.Chờ đợi lâu" in refused(
        tmp_path, MINIMAL.replace("oa_id: oa1}", "oa_id: oa1, chips: {'Chờ đợi lâu': speed}}")
    )


def test_the_webhook_path_starts_with_a_slash_and_stays_out_of_the_api(tmp_path):
    assert "zalo_oa.webhook_path" in refused(
        tmp_path, MINIMAL.replace("oa_id: oa1}", "oa_id: oa1, webhook_path: hook}")
    )
    message = refused(tmp_path, MINIMAL.replace("oa_id: oa1}", "oa_id: oa1, webhook_path: /api/v1/zalo}"))
    assert "zalo_oa.webhook_path" in message and "/api/" in message


def test_secrets_come_from_the_environment_only(tmp_path, monkeypatch):
    monkeypatch.setenv("ZALO_OA_APP_SECRET", "app-s3cret")
    monkeypatch.setenv("ZALO_OA_SECRET_KEY", "oa-k3y")
    monkeypatch.setenv("ZALO_OA_REFRESH_TOKEN", "rt-first")
    oa = load(tmp_path, MINIMAL).zalo_oa
    assert oa is not None and oa.app_secret is not None and oa.secret_key is not None
    assert oa.app_secret.get_secret_value() == "app-s3cret" and oa.secret_key.get_secret_value() == "oa-k3y"
    assert oa.refresh_token is not None and oa.refresh_token.get_secret_value() == "rt-first"
    assert "app-s3cret" not in repr(oa)
    message = refused(tmp_path, MINIMAL.replace("oa_id: oa1}", "oa_id: oa1, secret_key: in-file}"))
    assert "zalo_oa.secret_key" in message and "ZALO_OA_SECRET_KEY" in message and "in-file" not in message


def test_zalo_oa_needs_the_api_section_for_its_webhook(tmp_path):
    message = refused(tmp_path, "zalo_oa: {app_id: '4291', oa_id: oa1}\n")
    assert "zalo_oa" in message and "api:" in message


def test_secrets_in_the_environment_alone_turn_nothing_on(tmp_path, monkeypatch):
    monkeypatch.setenv("ZALO_OA_REFRESH_TOKEN", "rt-first")
    assert load(tmp_path, "secret: s\n").zalo_oa is None
