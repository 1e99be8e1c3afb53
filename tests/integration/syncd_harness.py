"""Helpers for end-to-end proofs: a sandbox plus an in-process syncd that follows its simulated clock.

`Engine` drives cycles and reads back what the sandbox holds (only through the sandbox's control
endpoints and the official SDKs, the way a user would look at HubSpot and Mailchimp); `make_lead`
creates a contact and its member through the SDKs, so the simulated population never mails them and
every event they have is one a test injected.
"""

from __future__ import annotations

import hashlib
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa
from hubspot.crm.contacts import SimplePublicObjectInputForCreate

from sandbox.server import SandboxServer
from syncd.app import build_context
from syncd.pipeline import run_cycle
from syncd.settings import load_settings
from syncd.store import schema as t

ROOT = Path(__file__).resolve().parents[2]
SYNCD = [sys.executable, "-m", "syncd.cli"]
DAY_MS = 86_400_000
PRICING = "https://www.example-saas.com/pricing"


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ms_of(value: str) -> int:
    """Epoch ms of an API timestamp (ISO 8601 or epoch ms as text)."""
    if str(value).isdigit():
        return int(value)
    return int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp() * 1000)


def subprocess_env(sb: SandboxServer, tmp: Path, **extra: str) -> dict[str, str]:
    """An environment for `syncd ...` run as a subprocess against `sb`, with absolute config paths
    (so the working directory does not matter) and no inherited syncd/vendor variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUBSPOT_", "MAILCHIMP_", "SYNCD_"))}
    cfg = tmp / "syncd.yaml"
    if not cfg.exists():
        cfg.write_text(
            f"paths: {{mappings: {ROOT / 'mappings/default.yaml'}, scoring: {ROOT / 'config/scoring.yaml'}}}\n"
        )
    env.update(
        sb.env,
        SYNCD_DATABASE_URL=f"sqlite:///{tmp}/syncd.db",
        SYNCD_CONFIG=str(cfg),
        SYNCD_HTTP_PORT="0",
        SYNCD_LOG_LEVEL="WARNING",
        SYNCD_LOG_FORMAT="json",
    )
    env.update(extra)
    return env


class Engine:
    """syncd in-process against one sandbox, on the sandbox's simulated clock."""

    def __init__(self, sb: SandboxServer, tmp: Path, **env: str) -> None:
        self.sb, self.url = sb, sb.url
        settings_env = {
            **sb.env,
            "SYNCD_DATABASE_URL": f"sqlite:///{tmp}/syncd.db",
            "SYNCD_LOG_LEVEL": "WARNING",
            "SYNCD_HTTP_PORT": "0",
            **env,
        }
        self.settings = load_settings(env=settings_env)
        self.ctx = build_context(self.settings)  # on the sandbox's clock, through SYNCD_CLOCK_URL
        self.summaries: list[dict[str, Any]] = []

    # -- driving ------------------------------------------------------------------------------
    def cycle(self) -> dict[str, Any]:
        summary = run_cycle(self.ctx)
        assert summary["ok"], summary
        self.summaries.append(summary)
        return summary

    def now(self) -> int:
        return int(requests.get(f"{self.url}/_sandbox/clock", timeout=30).json()["now_ms"])

    def advance(self, days: float) -> None:
        requests.post(f"{self.url}/_sandbox/clock", json={"advance_days": days}, timeout=120).raise_for_status()

    def advance_to(self, ms: int) -> None:
        """Move the simulated clock to `ms` (not backwards)."""
        gap = ms - self.now()
        assert gap >= 0, "the sandbox clock only moves forward"
        self.advance(gap / DAY_MS)

    def inject(self, *events: dict[str, Any]) -> None:
        r = requests.post(f"{self.url}/_sandbox/events", json=list(events), timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["applied"] == len(events)

    def settle(self) -> None:
        """Let the pull lag window (30 s) pass so the next cycle sees everything written so far."""
        self.advance(0.01)

    # -- reading back -------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return requests.get(f"{self.url}/_sandbox/state", timeout=120).json()

    def stats(self) -> dict[str, Any]:
        return requests.get(f"{self.url}/_sandbox/stats", timeout=30).json()

    def reset_stats(self) -> None:
        requests.delete(f"{self.url}/_sandbox/stats", timeout=30).raise_for_status()

    def contact(self, contact_id: str, state: dict | None = None) -> dict[str, Any]:
        state = state or self.state()
        return next(c for c in state["hubspot"]["contacts"] if c["id"] == contact_id)

    def member(self, email: str, state: dict | None = None) -> dict[str, Any]:
        state = state or self.state()
        return next(m for m in state["mailchimp"]["members"] if m["email_address"].lower() == email.lower())

    def tasks_for(self, contact_id: str, state: dict | None = None) -> list[dict[str, Any]]:
        state = state or self.state()
        return [x for x in state["hubspot"]["tasks"] if contact_id in x["associations"]["contacts"]]

    def score_row(self, email: str) -> Any:
        with self.ctx.store.begin() as conn:
            return conn.execute(sa.select(t.scores).where(t.scores.c.email == email.lower())).first()

    def outbox(self, target_like: str = "%") -> list[Any]:
        with self.ctx.store.begin() as conn:
            return conn.execute(
                sa.select(t.outbox).where(t.outbox.c.target.like(target_like)).order_by(t.outbox.c.id)
            ).all()


def engine_hash(email: str) -> str:
    """Mailchimp's subscriber hash: md5 of the lowercased address."""
    return hashlib.md5(email.strip().lower().encode()).hexdigest()


def sdk_clients(sb: SandboxServer) -> tuple[Any, Any]:
    """(HubSpot, Mailchimp) official SDK clients aimed at `sb`, as tests/conftest.py builds them."""
    import mailchimp_marketing
    from hubspot import HubSpot

    hs = HubSpot(access_token=sb.world.config.hubspot_token, host=sb.url, base_url=sb.url)
    mc = mailchimp_marketing.Client({"api_key": sb.world.config.mailchimp_key, "server": "server", "timeout": 30})
    mc.api_client.host = f"{sb.url}/3.0"
    return hs, mc


def tags_of(member: dict[str, Any]) -> set[str]:
    return {tg["name"] if isinstance(tg, dict) else tg for tg in member.get("tags", [])}


def make_lead(
    sb: SandboxServer,
    hubspot: Any,
    mailchimp: Any,
    email: str,
    *,
    jobtitle: str = "VP of Marketing",
    numemployees: str = "100-500",
    consent: bool = True,
    owner_id: str | None = None,
    member: bool = True,
    **props: str,
) -> dict[str, str]:
    """A HubSpot contact (and, with `member`, its subscribed Mailchimp member) created through the SDKs.

    Returns {"id", "email", "owner_id", "hash"}. `numemployees` is one of HubSpot's enumeration buckets
    ("1-5", "5-25", "25-50", "50-100", "100-500", "500-1000", "1000+"): 200 staff is "100-500".
    """
    owner_id = owner_id or sb.world.hubspot.owners[0]["id"]
    properties = {
        "email": email,
        "firstname": "Vera",
        "lastname": "Pilot",
        "jobtitle": jobtitle,
        "company": "Midsize Analytics",
        "numemployees": numemployees,
        "hubspot_owner_id": str(owner_id),
        "lifecyclestage": "subscriber",
        "industry": "retail",
        **props,
    }
    if consent:
        properties["hs_legal_basis"] = "Freely given consent from contact"
    created = hubspot.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(properties=properties))
    if member:
        mailchimp.lists.add_list_member(
            sb.world.list_id,
            {
                "email_address": email,
                "status": "subscribed",
                "merge_fields": {"FNAME": properties["firstname"], "LNAME": properties["lastname"]},
            },
        )
    return {"id": str(created.id), "email": email, "owner_id": str(owner_id), "hash": engine_hash(email)}
