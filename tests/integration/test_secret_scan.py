"""No configured secret leaves syncd: a full `syncd run` at DEBUG against a sandbox serving faults, then a
scan of everything it produced (stdout and stderr, every table of its database, the status page, /readyz
and /metrics) for each secret in every form it could take on the wire (the HubSpot token, the Mailchimp key
with and without its data-centre suffix and as the SDK's Basic credentials, the status page's token and
the database password)."""

from __future__ import annotations

import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from sandbox.server import SandboxServer
from sandbox.world import SandboxConfig

ROOT = Path(__file__).resolve().parents[2]
SYNCD = [sys.executable, "-m", "syncd.cli"]
JOBS = ("hubspot_contacts", "mailchimp_members", "mailchimp_activity", "score", "push")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.2)  # polling a real subprocess: bounded
    raise AssertionError(f"timed out waiting for {what}")


def _get(url: str, **params: str):
    try:
        return requests.get(url, params=params, timeout=5)
    except requests.RequestException:
        return None


def _forms(secret: str) -> set[str]:
    """The ways `secret` could appear: itself, a Mailchimp key without its '-usN', Basic credentials."""
    forms = {secret, base64.b64encode(f"user:{secret}".encode()).decode()}
    key, _, dc = secret.rpartition("-")
    if len(key) == 32 and dc.startswith("us"):  # a Mailchimp key: its key part alone is the secret
        forms.add(key)
    return forms


def _database_text(url: str, schema: str | None) -> str:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if schema:
                conn.execute(sa.text(f'SET search_path TO "{schema}"'))
            names = sa.inspect(conn).get_table_names(schema=schema)
            assert {"outbox", "hubspot_contacts", "events", "jobs"} <= set(names), names
            dump = []
            for name in names:
                table = sa.Table(name, sa.MetaData(), autoload_with=conn, schema=schema)
                dump += [repr(tuple(row)) for row in conn.execute(sa.select(table))]
            return "\n".join(dump)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    """(url, schema): a SQLite file, or a fresh schema on the local PostgreSQL reached with a password
    (trust authentication accepts any, so the password is a real part of the URL syncd must keep hidden)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/syncd.db", None
        return
    from pg_support import admin

    schema = f"syncd_scan_{uuid.uuid4().hex[:10]}"
    with admin() as conn:  # skips with the reason when no server is reachable
        conn.execute(f'CREATE SCHEMA "{schema}"')
    password = f"pw-{secrets.token_hex(12)}"
    try:
        yield (
            f"postgresql://postgres:{password}@127.0.0.1:5432/test?options=-csearch_path%3D{schema}",
            schema,
        )
    finally:
        with admin() as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def test_a_debug_run_under_faults_shows_no_secret_anywhere(database, tmp_path):
    url, schema = database
    status_token = f"st-{secrets.token_hex(16)}"
    config = SandboxConfig(contacts=120, seed=5, rate_scale=10, history_days=14, fault_rate=0.15)
    with SandboxServer(config) as sb:
        port = _free_port()
        cfg = tmp_path / "syncd.yaml"
        cfg.write_text(
            "intervals: {hubspot_contacts: 1, hubspot_owners: 5, mailchimp_members: 1, mailchimp_campaigns: 2,"
            " mailchimp_activity: 2, mailchimp_unsubscribes: 2, score: 1, push: 1}\n"
            f"paths: {{mappings: {ROOT / 'mappings/default.yaml'}, scoring: {ROOT / 'config/scoring.yaml'}}}\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HUBSPOT_", "MAILCHIMP_", "SYNCD_"))}
        env.update(
            sb.env,
            SYNCD_DATABASE_URL=url,
            SYNCD_CONFIG=str(cfg),
            SYNCD_HTTP_PORT=str(port),
            SYNCD_LOG_FORMAT="json",
            SYNCD_LOG_LEVEL="DEBUG",
            SYNCD_STATUS_TOKEN=status_token,
        )
        secret_values = {
            "HUBSPOT_ACCESS_TOKEN": env["HUBSPOT_ACCESS_TOKEN"],
            "MAILCHIMP_API_KEY": env["MAILCHIMP_API_KEY"],
            "SYNCD_STATUS_TOKEN": status_token,
        }
        if schema:
            secret_values["database password"] = sa.engine.make_url(url).password
        proc = subprocess.Popen(
            SYNCD + ["run"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        base = f"http://127.0.0.1:{port}"
        try:

            def every_job_succeeded():
                r = _get(base + "/metrics")
                return r is not None and all(f'last_success_timestamp_seconds{{job="{j}"' in r.text for j in JOBS)

            _wait_for(every_job_succeeded, 90, "every job's first success")
            faults = requests.get(f"{sb.url}/_sandbox/faults", timeout=10).json()
            assert sum(faults["served"].values()) > 0, faults  # the error paths ran too
            pages = {
                "status page without the token": _get(base + "/"),
                "status page": _get(base + "/", token=status_token),
                "readyz": _get(base + "/readyz"),
                "metrics": _get(base + "/metrics"),
            }
            assert pages["status page without the token"].status_code == 401
            assert pages["status page"].status_code == 200 and "Recent cycles" in pages["status page"].text
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    db_text = _database_text(url.split("?")[0] if schema else url, schema)
    assert "@example" in db_text  # the dump holds real rows
    produced = {
        "stdout": out,
        "stderr": err,
        "database": db_text,
        **{name: page.text for name, page in pages.items()},
    }
    assert err.count("\n") > 50 and '"level": "debug"' in err, err[-2000:]  # a real DEBUG run was scanned
    leaks = [
        f"{secret} (as {form[:4]}…) in {where}"
        for secret, value in secret_values.items()
        for form in _forms(value)
        for where, text in produced.items()
        # the page served to the token's holder carries it in its own links and forms, as it must
        if form in text and not (secret == "SYNCD_STATUS_TOKEN" and where == "status page")
    ]
    assert not leaks, leaks
