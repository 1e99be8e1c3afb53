"""Workspaces: one deployment, several HubSpot accounts and Mailchimp audiences, each with its own
variables (behind a prefix), its own data (a PostgreSQL schema or a SQLite file) and optionally its own
rule files; and the CLI's --workspace."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from syncd.settings import SettingsError, load_settings, load_workspaces, workspace_database

ROOT = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path, body: str) -> str:
    path = tmp_path / "syncd.yaml"
    path.write_text(body)
    return str(path)


TWO = """\
workspaces:
  - {name: emea, env_prefix: EMEA, hubspot_portal_id: 111}
  - {name: us, env_prefix: US, mailchimp_list_id: us-list, scoring: config/scoring-us.yaml}
"""


def _vendor(prefix: str, n: int) -> dict[str, str]:
    return {
        f"{prefix}_HUBSPOT_ACCESS_TOKEN": f"pat-{prefix.lower()}-{n}",
        f"{prefix}_MAILCHIMP_API_KEY": f"{n:032x}-us{n}",
        f"{prefix}_MAILCHIMP_LIST_ID": f"list-{prefix.lower()}",
    }


def test_without_workspaces_one_default_workspace_from_the_plain_variables(tmp_path):
    env = {"HUBSPOT_ACCESS_TOKEN": "pat-x", "SYNCD_CONFIG": _config(tmp_path, "drain_s: 5\n")}
    (only,) = load_workspaces(env)
    assert only.workspace == "default" and only.env_prefix == "" and only.database_schema is None
    assert only == load_settings(env)


def test_each_workspace_reads_its_own_prefixed_variables_and_keeps_its_data_apart(tmp_path):
    env = {
        "SYNCD_CONFIG": _config(tmp_path, TWO),
        "SYNCD_DATABASE_URL": "postgresql://syncd@db:5432/syncd",
        "HUBSPOT_ACCESS_TOKEN": "pat-plain-must-not-leak",
        **_vendor("EMEA", 1),
        "US_HUBSPOT_ACCESS_TOKEN": "pat-us-2",
        "US_MAILCHIMP_API_KEY": f"{2:032x}-us2",
    }
    emea, us = load_workspaces(env)
    assert (emea.workspace, us.workspace) == ("emea", "us")
    assert emea.hubspot_access_token.get_secret_value() == "pat-emea-1"
    assert us.hubspot_access_token.get_secret_value() == "pat-us-2"
    assert emea.mailchimp_list_id == "list-emea" and us.mailchimp_list_id == "us-list"  # from the file
    assert (emea.database_schema, us.database_schema) == ("syncd_emea", "syncd_us")
    assert emea.database_url == us.database_url == env["SYNCD_DATABASE_URL"]
    assert emea.config.hubspot_portal_id == 111 and us.config.hubspot_portal_id is None
    assert us.config.paths.scoring == "config/scoring-us.yaml"
    assert emea.config.paths.scoring == "config/scoring.yaml"  # the default
    assert "pat-plain-must-not-leak" not in emea.secrets() + us.secrets()


def test_a_workspace_missing_a_credential_is_named_with_its_prefixed_variable(tmp_path):
    env = {"SYNCD_CONFIG": _config(tmp_path, TWO), **_vendor("EMEA", 1), "US_HUBSPOT_ACCESS_TOKEN": "pat-us"}
    _emea, us = load_workspaces(env)
    with pytest.raises(SettingsError) as err:
        us.require_credentials()
    assert "env US_MAILCHIMP_API_KEY: required (workspace us) (or US_MAILCHIMP_API_KEY_FILE)" in str(err.value)


def test_a_bad_prefixed_value_names_the_workspace_and_the_prefixed_variable(tmp_path):
    env = {"SYNCD_CONFIG": _config(tmp_path, TWO), **_vendor("EMEA", 1), "US_HUBSPOT_BASE_URL": "ftp://nope"}
    with pytest.raises(SettingsError) as err:
        load_workspaces(env)
    assert "workspace us: env US_HUBSPOT_BASE_URL" in str(err.value)


def test_prefixed_secrets_may_come_from_files(tmp_path):
    secret = tmp_path / "emea-token"
    secret.write_text("pat-from-file\n")
    env = {"SYNCD_CONFIG": _config(tmp_path, TWO), "EMEA_HUBSPOT_ACCESS_TOKEN_FILE": str(secret)}
    emea, _us = load_workspaces(env)
    assert emea.hubspot_access_token.get_secret_value() == "pat-from-file"


@pytest.mark.parametrize(
    "body, problem",
    [
        ("workspaces: [{name: a, env_prefix: A}, {name: a, env_prefix: B}]\n", "workspace name 'a' is used twice"),
        ("workspaces: [{name: a, env_prefix: A}, {name: b, env_prefix: A}]\n", "workspace env_prefix 'A' is used"),
        ("workspaces: [{name: Bad-Name, env_prefix: A}]\n", "name"),
        ("workspaces: [{name: a, env_prefix: lower}]\n", "env_prefix"),
        ("workspaces: [{name: a, env_prefix: A, colour: red}]\n", "colour"),
    ],
)
def test_bad_workspace_lists_are_refused_with_the_file_and_the_field(tmp_path, body, problem):
    env = {"SYNCD_CONFIG": _config(tmp_path, body)}
    with pytest.raises(SettingsError) as err:
        load_workspaces(env)
    assert problem in str(err.value) and "syncd.yaml" in str(err.value)


@pytest.mark.parametrize(
    "url, name, want",
    [
        ("postgresql://u@h/db", "emea", ("postgresql://u@h/db", "syncd_emea")),
        ("postgresql+psycopg://u@h/db", "us", ("postgresql+psycopg://u@h/db", "syncd_us")),
        ("sqlite:///data/syncd.db", "emea", ("sqlite:///data/syncd-emea.db", None)),
        ("sqlite:////abs/path/store", "us", ("sqlite:////abs/path/store-us", None)),
        ("sqlite:///:memory:", "us", ("sqlite:///:memory:", None)),
    ],
)
def test_each_workspace_gets_its_own_schema_or_file(url, name, want):
    assert workspace_database(url, name) == want


def _cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    base = {
        "PATH": "/usr/bin:/bin",
        "SYNCD_CONFIG": _config(tmp_path, TWO),
        "SYNCD_DATABASE_URL": f"sqlite:///{tmp_path}/s.db",
    }
    return subprocess.run(
        [sys.executable, "-m", "syncd.cli", *args], env={**base, **env}, cwd=ROOT, capture_output=True, text=True
    )


def test_a_command_about_one_workspace_asks_which_and_names_an_unknown_one(tmp_path):
    ask = _cli(tmp_path, "explain", "a@example.com")
    assert ask.returncode == 1
    assert "several workspaces (emea, us): pick one with --workspace NAME" in ask.stderr
    unknown = _cli(tmp_path, "--workspace", "apac", "explain", "a@example.com")
    assert unknown.returncode == 1 and "no workspace 'apac'; this deployment serves: emea, us" in unknown.stderr
    # us names a scoring file that is not there: one line naming it, no traceback
    missing = _cli(tmp_path, "--workspace", "us", "explain", "a@example.com")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert missing.stderr.strip() == "syncd explain: config/scoring-us.yaml: cannot read: No such file or directory"
    assert not (tmp_path / "s-emea.db").exists()
    picked = _cli(tmp_path, "--workspace", "emea", "explain", "a@example.com")
    assert picked.returncode == 1 and "Traceback" not in picked.stderr and "a@example.com" in picked.stderr
    assert (tmp_path / "s-emea.db").exists()  # its own store
    assert not (tmp_path / "s.db").exists()
