"""Settings: the environment (secrets, endpoints) plus config/syncd.yaml (behaviour), read once, frozen.

Every problem is collected and reported at once, each prefixed with where it came from
("env MAILCHIMP_API_KEY: ...", "config/syncd.yaml:12: unknown key 'intervalz'"), so an admin fixes a
broken deployment in one pass instead of one error per restart.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from connectors.mailchimp.client import API_KEY as MAILCHIMP_KEY
from connectors.mailchimp.client import default_base_url
from syncd.yamlfile import YamlFileError, read_yaml
from syncd.yamlfile import line_of as _line_of

DEFAULT_CONFIG_PATH = "config/syncd.yaml"

# Secrets may also come from NAME_FILE (Docker/Kubernetes secrets mounted as files).
SECRET_ENV = ("HUBSPOT_ACCESS_TOKEN", "MAILCHIMP_API_KEY", "SYNCD_STATUS_TOKEN")
# A workspace's own variables: these names behind its prefix (<PREFIX>_HUBSPOT_ACCESS_TOKEN ...).
WORKSPACE_ENV = (
    "HUBSPOT_ACCESS_TOKEN",
    "HUBSPOT_BASE_URL",
    "MAILCHIMP_API_KEY",
    "MAILCHIMP_BASE_URL",
    "MAILCHIMP_LIST_ID",
    "SYNCD_CLOCK_URL",  # each sandbox has its own clock
)

# Environment variable -> Settings field.
ENV_FIELDS = {
    "HUBSPOT_ACCESS_TOKEN": "hubspot_access_token",
    "HUBSPOT_BASE_URL": "hubspot_base_url",
    "MAILCHIMP_API_KEY": "mailchimp_api_key",
    "MAILCHIMP_BASE_URL": "mailchimp_base_url",
    "MAILCHIMP_LIST_ID": "mailchimp_list_id",
    "SYNCD_DATABASE_URL": "database_url",
    "SYNCD_CONFIG": "config_path",
    "SYNCD_HTTP_PORT": "http_port",
    "SYNCD_LOG_FORMAT": "log_format",
    "SYNCD_LOG_LEVEL": "log_level",
    "SYNCD_CLOCK_URL": "clock_url",
    "SYNCD_HTTP_HOST": "http_host",
    "SYNCD_STATUS_TOKEN": "status_token",
}
_FIELD_ENV = {v: k for k, v in ENV_FIELDS.items()}

_SECRET_KEY = re.compile(r"token|secret|passw|api_?key|apikey|access_?key|private_?key|credential", re.I)


class SettingsError(Exception):
    """Invalid settings. `problems` lists every problem, each naming where it came from."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid settings:\n  " + "\n  ".join(self.problems))


class _Frozen(BaseModel):
    # strict: YAML's `true` is not the number 1, a quoted "300" is not a number, and .inf is no duration
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


WEEK_S = 7 * 86_400


# The daemon's jobs besides one per stream (syncd/streams.py), with their default intervals.
STAGE_INTERVALS = {"score": 300, "push": 60}


def job_intervals() -> dict[str, int]:
    """Every job and its default interval in seconds: one job per registered stream, then score and push."""
    from syncd.streams import REGISTRY  # the registry, not a list written here: streams are declared once

    return {**{s.name: s.default_interval_s for s in REGISTRY}, **STAGE_INTERVALS}


Interval = Annotated[int, Field(gt=0, le=WEEK_S)]


class BatchSizes(_Frozen):
    """Records per page or per batch call; the upper bounds are the vendors' own maxima."""

    hubspot_page: int = Field(100, gt=0, le=100)  # HubSpot list pages: 100 records at most
    hubspot_search_page: int = Field(200, gt=0, le=200)  # HubSpot search pages: 200 at most
    hubspot_batch: int = Field(100, gt=0, le=100)  # HubSpot batch/*: 100 inputs per call
    mailchimp_page: int = Field(1000, gt=0, le=1000)  # Mailchimp lists: count <= 1000
    mailchimp_batch: int = Field(500, gt=0, le=500)  # Mailchimp: operations per batch, members per tag call
    mailchimp_direct_max: int = Field(100, ge=0, le=10_000)  # member writes sent one call each; above, a batch
    outbox_claim: int = Field(2500, gt=0, le=50_000)  # commands of one kind handed to the pushers at once


class Paths(_Frozen):
    mappings: str = "mappings/default.yaml"
    scoring: str = "config/scoring.yaml"


class Tasks(_Frozen):
    """Who gets a hand-off task when the contact has no (known) owner. When and how often tasks are
    due is sales policy and lives with the scoring rules (config/scoring.yaml `tasks:`)."""

    fallback_owner_id: str | None = None
    round_robin_owner_ids: tuple[str, ...] = ()

    @field_validator("fallback_owner_id", "round_robin_owner_ids", mode="before")
    @classmethod
    def _ids_as_text(cls, value: Any) -> Any:
        # HubSpot owner ids are strings on the wire, but YAML reads an unquoted 12345 as an int.
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, list):
            return tuple(str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value)
        return value


class Workspace(_Frozen):
    """One HubSpot account and one Mailchimp audience served by this deployment. Its credentials are the
    usual variables with the workspace's prefix: <PREFIX>_HUBSPOT_ACCESS_TOKEN (or _FILE),
    <PREFIX>_MAILCHIMP_API_KEY (or _FILE), <PREFIX>_MAILCHIMP_LIST_ID, <PREFIX>_HUBSPOT_BASE_URL,
    <PREFIX>_MAILCHIMP_BASE_URL. Its data lives apart from the others' (a schema of its own on PostgreSQL,
    a file of its own on SQLite)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,30}$", description="lower-case, letters, digits and _")
    env_prefix: str = Field(pattern=r"^[A-Z][A-Z0-9_]{0,40}$")
    mailchimp_list_id: str | None = None  # or <PREFIX>_MAILCHIMP_LIST_ID
    mappings: str | None = None  # default: paths.mappings
    scoring: str | None = None  # default: paths.scoring
    hubspot_portal_id: int | None = Field(None, gt=0)  # default: the top level's


class Notes(_Frozen):
    enabled: bool = True


class SyncConfig(_Frozen):
    """The contents of config/syncd.yaml (no secrets)."""

    # seconds between two runs of each job (at most a week); a job left out keeps its default
    intervals: dict[str, Interval] = Field(default_factory=job_intervals)
    lag_window_s: int = Field(30, ge=0, le=3600)
    hubspot_tier: Literal[100, 190, 250] = 190
    batch_sizes: BatchSizes = BatchSizes()
    paths: Paths = Paths()
    rate_scale: float = Field(1.0, gt=0, le=1000)
    activity_days: int = Field(30, gt=0, le=3650)
    backfill_days: int = Field(90, gt=0, le=3650)
    rescore_hours: float = Field(6, gt=0, le=24 * 365)
    future_skew_s: int = Field(300, ge=0, le=86_400)
    # points a score must move before it is written on its own (config/syncd.yaml says why 5); 1: every change
    score_write_threshold: int = Field(5, ge=1, le=100)
    progress_interval_s: float = Field(5, gt=0, le=3600)  # a long pull's progress log line (syncd/progress.py)
    lease_ttl_s: int = Field(30, ge=5, le=600)
    drain_s: float = Field(8, ge=0, le=300)
    tasks: Tasks = Tasks()
    notes: Notes = Notes()
    workspaces: tuple[Workspace, ...] = ()
    # the status page links each task's lead to its HubSpot record when the account (portal) id is known
    hubspot_portal_id: int | None = Field(None, gt=0)
    hubspot_app_url: str = Field("https://app.hubspot.com", pattern=r"^https://[a-z0-9.-]+$")

    @field_validator("workspaces", mode="before")
    @classmethod
    def _as_tuple(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value

    @field_validator("workspaces")
    @classmethod
    def _unique_workspaces(cls, value: tuple[Workspace, ...]) -> tuple[Workspace, ...]:
        for attr in ("name", "env_prefix"):
            seen = [getattr(w, attr) for w in value]
            twice = sorted({v for v in seen if seen.count(v) > 1})
            if twice:
                raise ValueError(f"workspace {attr} {twice[0]!r} is used twice")
        return value

    @field_validator("intervals")
    @classmethod
    def _known_jobs(cls, given: dict[str, int]) -> dict[str, int]:
        known = job_intervals()
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise ValueError(f"unknown key '{unknown[0]}' (the jobs are: {', '.join(known)})")
        return {**known, **given}

    def interval(self, job: str) -> int:
        """Seconds between two runs of `job`. Raises KeyError for a job that does not exist."""
        return self.intervals[job] if job in self.intervals else job_intervals()[job]


class Settings(BaseModel):
    """Everything syncd is configured with. Credentials are optional until `require_credentials()`.

    Not strict like the config file: environment variables are text ("8080" is a port)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hubspot_access_token: SecretStr | None = None
    hubspot_base_url: str = "https://api.hubapi.com"
    mailchimp_api_key: SecretStr | None = None
    mailchimp_base_url: str | None = None
    mailchimp_list_id: str | None = None
    database_url: str = "sqlite:///./syncd.db"
    config_path: str = DEFAULT_CONFIG_PATH
    http_port: int = Field(8080, ge=0, le=65535)
    log_format: Literal["json", "console"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    clock_url: str | None = None  # a sandbox's /_sandbox/clock: follow its simulated time
    http_host: str = "127.0.0.1"  # the image sets 0.0.0.0
    status_token: SecretStr | None = None  # when set, the status page and its actions require it
    workspace: str = "default"  # the workspace these settings are for (see SyncConfig.workspaces)
    env_prefix: str = ""  # "<PREFIX>_" of the workspace's variables ("" without workspaces)
    database_schema: str | None = None  # PostgreSQL: the workspace's own schema
    config: SyncConfig = SyncConfig()

    @field_validator("mailchimp_api_key")
    @classmethod
    def _key_form(cls, value: SecretStr | None) -> SecretStr | None:
        # The message must not echo the key: it ends up in logs and terminals.
        if value is not None and not MAILCHIMP_KEY.match(value.get_secret_value()):
            raise ValueError("must look like '<key>-<dc>' (e.g. ...-us21) with exactly one '-'")
        return value

    @field_validator("hubspot_base_url", "mailchimp_base_url", "clock_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if value else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="before")
    @classmethod
    def _default_mailchimp_url(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("mailchimp_base_url"):
            key = data.get("mailchimp_api_key")
            raw = key.get_secret_value() if isinstance(key, SecretStr) else key
            if isinstance(raw, str) and MAILCHIMP_KEY.match(raw):
                data = {**data, "mailchimp_base_url": default_base_url(raw)}
        return data

    def secrets(self) -> list[str]:
        """Return the secret values that are set (for log redaction): the vendor credentials, the status
        page's token and the database URL's password."""
        found = [
            s.get_secret_value() for s in (self.hubspot_access_token, self.mailchimp_api_key, self.status_token) if s
        ]
        try:
            password = make_url(self.database_url).password
        except ArgumentError:
            password = None  # an unparsable URL fails where it is opened, with its own message
        return found + ([str(password)] if password else [])

    def require_credentials(self) -> None:
        """Raise SettingsError naming every credential a command talking to the vendors still lacks."""
        missing = []
        p, ws = self.env_prefix, f" (workspace {self.workspace})" if self.env_prefix else ""
        if self.hubspot_access_token is None:
            missing.append(f"env {p}HUBSPOT_ACCESS_TOKEN: required{ws} (or {p}HUBSPOT_ACCESS_TOKEN_FILE)")
        if self.mailchimp_api_key is None:
            missing.append(f"env {p}MAILCHIMP_API_KEY: required{ws} (or {p}MAILCHIMP_API_KEY_FILE)")
        if not self.mailchimp_list_id:
            missing.append(f"env {p}MAILCHIMP_LIST_ID: required{ws}")
        if missing:
            raise SettingsError(missing)


def load_settings(env: Mapping[str, str] | None = None, config_path: str | None = None) -> Settings:
    """Read settings from `env` (default os.environ) and the config file.

    `config_path` overrides SYNCD_CONFIG. A missing config file is an error only when its path was given
    explicitly; otherwise the built-in defaults apply. Returns frozen Settings; raises SettingsError
    listing every problem found in the environment and the file.
    """
    env = os.environ if env is None else env
    problems: list[str] = []
    values = _read_env(env, problems)
    explicit = config_path is not None or "config_path" in values
    path = config_path or values.get("config_path") or DEFAULT_CONFIG_PATH
    values["config_path"] = path
    config = _read_config(path, explicit, problems)
    try:
        settings = Settings.model_validate({**values, "config": config or SyncConfig()})
    except ValidationError as exc:
        problems.extend(_env_problem(err) for err in exc.errors())
        settings = None
    if problems or settings is None:
        raise SettingsError(problems)
    return settings


def load_workspaces(env: Mapping[str, str] | None = None, config_path: str | None = None) -> list[Settings]:
    """The settings of every workspace this deployment serves: the config file's `workspaces`, each with
    its prefixed variables, its data apart and its rule files; without any, one workspace "default" from
    the plain variables (what `load_settings` returns). Raises SettingsError listing every problem."""
    env = os.environ if env is None else env
    base = load_settings(env, config_path)
    if not base.config.workspaces:
        return [base]
    problems: list[str] = []
    out = []
    vendor = {n for name in WORKSPACE_ENV for n in (name, f"{name}_FILE")}
    for ws in base.config.workspaces:
        prefix = f"{ws.env_prefix}_"
        scoped = {k: v for k, v in env.items() if k not in vendor}
        scoped.update({name: env[prefix + name] for name in vendor if env.get(prefix + name)})
        if ws.mailchimp_list_id and not scoped.get("MAILCHIMP_LIST_ID"):
            scoped["MAILCHIMP_LIST_ID"] = ws.mailchimp_list_id
        try:
            settings = load_settings(scoped, config_path)
        except SettingsError as exc:
            problems += [f"workspace {ws.name}: {_prefixed(problem, prefix, vendor)}" for problem in exc.problems]
            continue
        paths = settings.config.paths.model_copy(
            update={k: v for k, v in (("mappings", ws.mappings), ("scoring", ws.scoring)) if v}
        )
        url, schema = workspace_database(settings.database_url, ws.name)
        out.append(
            settings.model_copy(
                update={
                    "workspace": ws.name,
                    "env_prefix": prefix,
                    "database_url": url,
                    "database_schema": schema,
                    "config": settings.config.model_copy(
                        update={"paths": paths}
                        | ({"hubspot_portal_id": ws.hubspot_portal_id} if ws.hubspot_portal_id else {})
                    ),
                }
            )
        )
    if problems:
        raise SettingsError(problems)
    return out


def _prefixed(problem: str, prefix: str, names: set[str]) -> str:
    """A problem about the variable NAME, told about the workspace's <PREFIX>_NAME."""
    return re.sub(
        r"\benv ([A-Z_]+)", lambda m: "env " + (prefix + m.group(1) if m.group(1) in names else m.group(1)), problem
    )


def workspace_database(url: str, name: str) -> tuple[str, str | None]:
    """(database URL, PostgreSQL schema) of workspace `name`: on PostgreSQL the same database with a schema
    of its own (`syncd_<name>`); on SQLite a file of its own next to the configured one."""
    if url.startswith(("postgresql", "postgres")):
        return url, f"syncd_{name}"
    if url.startswith("sqlite:///") and not url.endswith(":memory:"):
        folder, _, file = url.rpartition("/")
        stem, dot, ext = file.rpartition(".")
        return (f"{folder}/{stem}-{name}.{ext}" if dot else f"{url}-{name}"), None
    return url, None


def _read_env(env: Mapping[str, str], problems: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, field in ENV_FIELDS.items():
        value = env.get(name) or None
        if name in SECRET_ENV:
            value = _secret_value(env, name, value, problems)
        if value is not None:
            values[field] = value
    return values


def _secret_value(env: Mapping[str, str], name: str, value: str | None, problems: list[str]) -> str | None:
    file_name = env.get(f"{name}_FILE") or None
    if file_name is None:
        return value
    if value is not None:
        problems.append(f"env {name}: both {name} and {name}_FILE are set; use one")
        return None
    try:
        return Path(file_name).read_text(encoding="utf-8").rstrip("\r\n") or None
    except OSError as exc:
        problems.append(f"env {name}_FILE: cannot read {file_name}: {exc.strerror or exc}")
        return None


def _env_problem(err: Mapping[str, Any]) -> str:
    loc = err["loc"]
    name = _FIELD_ENV.get(str(loc[0])) if loc else None
    where = f"env {name}" if name else "settings"
    return f"{where}: {_clean(err['msg'])}"


def _clean(msg: str) -> str:
    return msg.removeprefix("Value error, ")


def _read_config(path: str, explicit: bool, problems: list[str]) -> SyncConfig | None:
    if not Path(path).exists():
        if explicit:
            problems.append(f"{path}: config file not found")
        return None
    try:
        root, data = read_yaml(path)
    except YamlFileError as exc:
        problems.extend(exc.problems)
        return None
    if root is None or data is None:
        return SyncConfig()
    if not isinstance(data, dict):
        problems.append(f"{path}:1: must be a mapping of settings")
        return None
    before = len(problems)
    _refuse_secrets(root, path, (), problems)
    try:
        config = SyncConfig.model_validate(data)
    except ValidationError as exc:
        found = [_config_problem(path, root, err) for err in exc.errors()]
        problems.extend(text for _line, text in sorted(found, key=lambda item: item[0]))
        return None
    return config if len(problems) == before else None


def _refuse_secrets(node: yaml.Node, path: str, where: tuple[str, ...], problems: list[str]) -> None:
    if not isinstance(node, yaml.MappingNode):
        return
    for key_node, value_node in node.value:
        key = str(key_node.value)
        if _SECRET_KEY.search(key):
            problems.append(
                f"{path}:{key_node.start_mark.line + 1}: '{'.'.join((*where, key))}' looks like "
                "a secret; secrets come only from the environment (NAME or NAME_FILE)"
            )
        _refuse_secrets(value_node, path, (*where, key), problems)


def _config_problem(path: str, root: yaml.Node, err: Mapping[str, Any]) -> tuple[int, str]:
    """Return (line, "file:line: reason") for one pydantic error in the config file."""
    loc = tuple(err["loc"])
    named = re.match(r"unknown key '([^']+)'(.*)", _clean(err["msg"]))
    if named:  # a validator refusing one key of a mapping: point at that key
        line = _line_of(root, (*loc, named.group(1)))
        where = ".".join(str(p) for p in loc)
        return line, f"{path}:{line}: unknown key '{named.group(1)}'" + (f" in {where}" if where else "") + named.group(
            2
        )
    line = _line_of(root, loc)
    if err["type"] == "extra_forbidden":
        parent = ".".join(str(p) for p in loc[:-1])
        return line, f"{path}:{line}: unknown key '{loc[-1]}'" + (f" in {parent}" if parent else "")
    dotted = ".".join(str(p) for p in loc)
    return line, f"{path}:{line}: " + (f"{dotted}: " if dotted else "") + _clean(err["msg"])
