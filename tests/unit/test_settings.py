from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from syncd.settings import Settings, SettingsError, SyncConfig, load_settings

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "pat-na1-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
KEY = "0123456789abcdef0123456789abcdef-us21"
FULL_ENV = {"HUBSPOT_ACCESS_TOKEN": TOKEN, "MAILCHIMP_API_KEY": KEY, "MAILCHIMP_LIST_ID": "abc123"}


def _config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "syncd.yaml"
    path.write_text(text)
    return str(path)


def _problems(env: dict, config_path: str | None = None) -> list[str]:
    with pytest.raises(SettingsError) as err:
        load_settings(env, config_path)
    return err.value.problems


def test_repository_config_equals_the_built_in_defaults() -> None:
    s = load_settings({}, str(ROOT / "config" / "syncd.yaml"))
    assert s.config == SyncConfig()
    assert s.config.lag_window_s == 30 and s.config.hubspot_tier == 190 and s.config.activity_days == 30
    assert s.config.tasks.fallback_owner_id is None and s.config.notes.enabled is True


def test_defaults_without_config_file_or_credentials(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # no config/syncd.yaml here: defaults apply
    s = load_settings({})
    assert s.hubspot_base_url == "https://api.hubapi.com" and s.database_url == "sqlite:///./syncd.db"
    assert s.http_port == 8080 and s.hubspot_access_token is None and s.mailchimp_base_url is None
    assert s.secrets() == []
    with pytest.raises(SettingsError) as err:
        s.require_credentials()
    assert [p.split(":")[0] for p in err.value.problems] == [
        "env HUBSPOT_ACCESS_TOKEN",
        "env MAILCHIMP_API_KEY",
        "env MAILCHIMP_LIST_ID",
    ]


def test_full_environment(tmp_path: Path) -> None:
    env = {
        **FULL_ENV,
        "SYNCD_HTTP_PORT": "0",
        "SYNCD_LOG_FORMAT": "console",
        "SYNCD_LOG_LEVEL": "debug",
        "SYNCD_DATABASE_URL": "postgresql://syncd@db/syncd",
        "HUBSPOT_BASE_URL": "http://127.0.0.1:9/",
    }
    s = load_settings(env, _config(tmp_path, ""))
    s.require_credentials()
    assert s.mailchimp_base_url == "https://us21.api.mailchimp.com/3.0"
    assert s.hubspot_base_url == "http://127.0.0.1:9" and s.http_port == 0 and s.log_format == "console"
    assert s.log_level == "DEBUG" and sorted(s.secrets()) == sorted([TOKEN, KEY])
    with pytest.raises(ValidationError):
        s.http_port = 1  # frozen


def test_secrets_never_show_in_repr_str_or_dump(tmp_path: Path) -> None:
    s = load_settings(FULL_ENV, _config(tmp_path, ""))
    for text in (repr(s), str(s), str(s.model_dump()), s.model_dump_json()):
        assert TOKEN not in text and KEY not in text


def test_secrets_from_files(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(TOKEN + "\n")
    (tmp_path / "key").write_text(KEY + "\r\n")
    env = {"HUBSPOT_ACCESS_TOKEN_FILE": str(tmp_path / "token"), "MAILCHIMP_API_KEY_FILE": str(tmp_path / "key")}
    s = load_settings(env, _config(tmp_path, ""))
    assert s.hubspot_access_token.get_secret_value() == TOKEN
    assert s.mailchimp_api_key.get_secret_value() == KEY


def test_every_environment_problem_at_once_without_echoing_secrets(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(TOKEN)
    env = {
        "HUBSPOT_ACCESS_TOKEN": TOKEN,
        "HUBSPOT_ACCESS_TOKEN_FILE": str(tmp_path / "token"),
        "MAILCHIMP_API_KEY": "not-a-key-at-all",
        "MAILCHIMP_API_KEY_FILE": "",
        "SYNCD_HTTP_PORT": "eighty",
        "SYNCD_LOG_FORMAT": "xml",
        "MAILCHIMP_BASE_URL": "ftp://x",
    }
    problems = _problems(env, _config(tmp_path, ""))
    assert [p.split(":")[0] for p in problems] == [
        "env HUBSPOT_ACCESS_TOKEN",
        "env MAILCHIMP_API_KEY",
        "env MAILCHIMP_BASE_URL",
        "env SYNCD_HTTP_PORT",
        "env SYNCD_LOG_FORMAT",
    ]
    assert "both HUBSPOT_ACCESS_TOKEN and HUBSPOT_ACCESS_TOKEN_FILE are set" in problems[0]
    assert all(TOKEN not in p and "not-a-key-at-all" not in p for p in problems)


def test_unreadable_secret_file(tmp_path: Path) -> None:
    (problem,) = _problems({"MAILCHIMP_API_KEY_FILE": str(tmp_path / "missing")}, _config(tmp_path, ""))
    assert problem.startswith("env MAILCHIMP_API_KEY_FILE: cannot read")


def test_config_problems_have_file_and_line(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        """\
intervals:
  score: 60
  pushh: 10
intervalz:
  score: 5
hubspot_tier: 200
lag_window_s: -1
tasks:
  fallback_owner_id: {id: 1}
  round_robin_owner_ids: [101, "102"]
  cooldown_days: 3
""",
    )
    problems = _problems({"SYNCD_HTTP_PORT": "99999"}, path)
    assert any(
        p.startswith(f"{path}:3: unknown key 'pushh' in intervals (the jobs are: hubspot_owners, ") for p in problems
    )
    assert f"{path}:4: unknown key 'intervalz'" in problems
    assert any(p.startswith(f"{path}:6: hubspot_tier: Input should be 100, 190 or 250") for p in problems)
    assert any(p.startswith(f"{path}:7: lag_window_s:") for p in problems)
    assert any(p.startswith(f"{path}:9: tasks.fallback_owner_id:") for p in problems)
    assert f"{path}:11: unknown key 'cooldown_days' in tasks" in problems
    assert any(p.startswith("env SYNCD_HTTP_PORT:") for p in problems)  # env and file reported together
    assert len(problems) == 7


def test_config_refuses_secret_looking_keys(tmp_path: Path) -> None:
    path = _config(tmp_path, "notes:\n  enabled: true\nhubspot:\n  access_token: pat-123\napi_key: x\n")
    problems = _problems({}, path)
    assert any(p.startswith(f"{path}:4: 'hubspot.access_token' looks like a secret") for p in problems)
    assert any(p.startswith(f"{path}:5: 'api_key' looks like a secret") for p in problems)
    assert all("pat-123" not in p for p in problems)


def test_config_values_and_owner_ids_as_text(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        """\
hubspot_tier: 100
tasks: {fallback_owner_id: 77, round_robin_owner_ids: [1, "2"]}
activity_days: 14
""",
    )
    cfg = load_settings({}, path).config
    assert cfg.hubspot_tier == 100 and cfg.activity_days == 14
    assert cfg.tasks.fallback_owner_id == "77" and cfg.tasks.round_robin_owner_ids == ("1", "2")
    assert cfg.intervals["push"] == 60 and cfg.interval("mailchimp_campaigns") == 900


def test_config_file_errors(tmp_path: Path) -> None:
    (missing,) = _problems({"SYNCD_CONFIG": str(tmp_path / "nope.yaml")})
    assert missing == f"{tmp_path / 'nope.yaml'}: config file not found"
    (syntax,) = _problems({}, _config(tmp_path, "intervals:\n  score: [1,\n"))
    assert ":3: not valid YAML" in syntax or ":2: not valid YAML" in syntax
    (shape,) = _problems({}, _config(tmp_path, "- just\n- a list\n"))
    assert shape.endswith(":1: must be a mapping of settings")


def test_settings_model_rejects_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        Settings(hubspot_acess_token="x")
