"""Shared fixtures: a sandbox on a loopback port and the official SDKs pointed at it."""

from __future__ import annotations

import mailchimp_marketing
import pytest
from hubspot import HubSpot
from urllib3.util.retry import Retry

from sandbox.server import SandboxServer
from sandbox.world import SandboxConfig


def make_hubspot(sb: SandboxServer) -> HubSpot:
    """The official HubSpot SDK aimed at the sandbox (see API_NOTES: host= and base_url=), no retries."""
    no_retry = Retry(total=0, redirect=0, raise_on_status=False, respect_retry_after_header=False)
    return HubSpot(access_token=sb.world.config.hubspot_token, host=sb.url, base_url=sb.url, retry=no_retry)


def make_mailchimp(sb: SandboxServer) -> mailchimp_marketing.Client:
    """The official Mailchimp SDK aimed at the sandbox."""
    mc = mailchimp_marketing.Client({"api_key": sb.world.config.mailchimp_key, "server": "server", "timeout": 30})
    mc.api_client.host = f"{sb.url}/3.0"
    return mc


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    """Override in a test module to change the population or limits."""
    return SandboxConfig(contacts=200, seed=7, start_ms=1_767_225_600_000)  # 2026-01-01T00:00:00Z


@pytest.fixture(scope="module")
def _module_sandbox(request):
    with SandboxServer(request.module.SHARED_SANDBOX) as sb:
        yield sb


@pytest.fixture
def sandbox(request, sandbox_config: SandboxConfig):
    """A running sandbox. A module that sets SHARED_SANDBOX (a SandboxConfig) gets one server for all its
    tests, reset before each (starting a server per test costs more than such tests); others get their own,
    built from `sandbox_config`."""
    if hasattr(request.module, "SHARED_SANDBOX"):
        sb = request.getfixturevalue("_module_sandbox")
        sb.world.reset()
        yield sb
    else:
        with SandboxServer(sandbox_config) as sb:
            yield sb


@pytest.fixture
def hubspot(sandbox: SandboxServer) -> HubSpot:
    return make_hubspot(sandbox)


@pytest.fixture
def mailchimp(sandbox: SandboxServer) -> mailchimp_marketing.Client:
    return make_mailchimp(sandbox)
