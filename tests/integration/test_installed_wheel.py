"""syncd as the image has it: a wheel built from the tree, installed in a fresh virtual environment from
requirements.lock (with its hashes), run from a folder that holds only copies of config/ and mappings/.

Nothing here imports the source tree: the commands are the installed venv's entry points, run with the
folder as working directory and no PYTHONPATH. What the Dockerfile runs is taken from the Dockerfile itself
(its ENV, ENTRYPOINT, CMD and HEALTHCHECK), so a change there is a change to what is tested here.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from syncd.resources import SHIPPED
from tests.container_support import dockerfile

ROOT = Path(__file__).resolve().parents[2]
# one venv for the module: under `pytest -n 2 --dist loadgroup` (make test) its tests share a worker
pytestmark = pytest.mark.xdist_group("installed_wheel")
IMAGE = dockerfile(ROOT / "Dockerfile")
# what .dockerignore keeps from the builder among the folders the Dockerfile copies
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.db", "*.db-wal", "*.db-shm")
# pip's words when the package index cannot be reached (then the test is skipped, saying so)
_OFFLINE = ("Could not fetch", "NewConnectionError", "Max retries exceeded", "Temporary failure in name resolution")
# what the admin-facing repository file of each shipped one is
REPO_COPY = {
    "mappings.schema.json": ROOT / "mappings/schema.json",
    "scoring.schema.json": ROOT / "config/scoring.schema.json",
    "scoring.yaml": ROOT / "config/scoring.yaml",
}


def _run(cmd: list[str], timeout: float = 300, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def _pip(cmd: list[str], what: str) -> None:
    proc = _run(cmd)
    if proc.returncode != 0:
        out = proc.stdout + proc.stderr
        if any(word in out for word in _OFFLINE):
            pytest.skip(f"{what}: pip cannot reach the package index here ({out.strip().splitlines()[-1]})")
        raise AssertionError(f"{what} failed:\n{out[-3000:]}")


class Installed:
    """A fresh venv holding the built wheel and the locked dependencies."""

    def __init__(self, venv: Path, wheel: Path) -> None:
        self.venv, self.wheel = venv, wheel
        self.bin = venv / "bin"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a process of the installed syncd: nothing of the tests' own (no PYTHONPATH,
        no syncd or vendor variables), the venv's bin/ first on PATH as in the image."""
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("HUBSPOT_", "MAILCHIMP_", "SYNCD_"))}
        keep.pop("PYTHONPATH", None)
        keep.pop("PYTHONHOME", None)
        keep["PATH"] = f"{self.bin}{os.pathsep}{keep.get('PATH', '')}"
        keep.update(extra)
        return keep


def _lay_out(in_image: str, target: Path) -> list[str]:
    """Copy into `target` what the Dockerfile's COPY instructions put under `in_image` (/src, /app), the way
    the builder does (a folder's contents, symbolic links kept); return the top-level names copied."""
    names = []
    for workdir, sources, dest in IMAGE.copies():
        where = posixpath.normpath(posixpath.join(workdir, dest))
        if where != in_image and not where.startswith(in_image + "/"):
            continue
        rel = target / posixpath.relpath(where, in_image)
        for source in sources:
            origin = ROOT / source
            to = rel / origin.name if dest.endswith("/") or len(sources) > 1 else rel
            to.parent.mkdir(parents=True, exist_ok=True)
            if origin.is_dir():
                shutil.copytree(origin, to, symlinks=True, ignore=_IGNORED)
            else:
                shutil.copy2(origin, to)
            names.append(to.relative_to(target).parts[0])
    return names


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The image's two install steps in a fresh venv: requirements.lock with --require-hashes, then syncd
    from the files the Dockerfile copies to /src, with --no-deps and the locked build backend. The wheel is
    built first (pip wheel, as the install would) so the test can look inside it."""
    base = tmp_path_factory.mktemp("wheel")
    src, wheels, venv = base / "src", base / "wheels", base / "venv"
    _lay_out("/src", src)
    assert _run([sys.executable, "-m", "venv", str(venv)]).returncode == 0
    pip = [str(venv / "bin/python"), "-m", "pip"]
    _pip([*pip, "install", "-q", "--require-hashes", "-r", str(ROOT / "requirements.lock")], "installing the lock")
    _pip([*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", str(src), "-w", str(wheels)], "building")
    (wheel,) = wheels.glob("syncd-*.whl")
    _pip([*pip, "install", "-q", "--no-deps", str(wheel)], "installing the wheel")
    return Installed(venv, wheel)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """The image's working directory, /app, as the Dockerfile fills it: copies of config/ and mappings/."""
    assert sorted(_lay_out("/app", tmp_path)) == ["config", "mappings"]
    return tmp_path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def sandbox(installed: Installed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """`syncd sandbox` of the installed venv on a free port; yields the variables it exports."""
    cwd = tmp_path_factory.mktemp("sandbox")
    proc = subprocess.Popen(
        [str(installed.bin / "syncd"), "sandbox", "--port", "0", "--contacts", "60", "--seed", "5"],
        cwd=cwd,
        env=installed.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        exports: dict[str, str] = {}
        while len(exports) < 6:  # the sandbox prints its six export lines once it listens
            line = proc.stdout.readline()
            if not line:
                raise AssertionError(f"the sandbox exited: {proc.wait(timeout=10)} {proc.stderr.read()[-2000:]}")  # type: ignore[union-attr]
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").strip().partition("=")
                exports[name] = value
        yield exports
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_the_wheel_carries_the_schemas_and_default_rules_as_files(installed):
    """The files syncd finds with importlib.resources are in the installed package, as real files with the
    contents of their admin-facing copies (in the tree they are symbolic links to those)."""
    code = (
        "import json, syncd, syncd.resources as r, syncd.app, syncd.cli, sandbox.server\n"  # every package imports
        "print(json.dumps([syncd.__file__, [str(r.shipped(n)) for n in r.SHIPPED]]))"
    )
    proc = _run([str(installed.bin / "python"), "-c", code], cwd=installed.venv, env=installed.env())
    assert proc.returncode == 0, proc.stderr
    module, paths = json.loads(proc.stdout)
    assert Path(module).is_relative_to(installed.venv), f"imported {module}, not the installed package"
    assert set(SHIPPED) == set(REPO_COPY)
    for name, path in zip(SHIPPED, paths):
        installed_file = Path(path)
        assert installed_file.is_file() and not installed_file.is_symlink(), path
        assert installed_file.read_bytes() == REPO_COPY[name].read_bytes(), name
    # the package does not drag the tree's admin folders into site-packages
    site = Path(module).parents[1]
    assert not (site / "mappings").exists() and not (site / "config").exists()


def test_mappings_check_and_once_from_a_folder_with_only_config_and_mappings(installed, sandbox, folder):
    env = installed.env(**sandbox, SYNCD_LOG_LEVEL="WARNING", SYNCD_LOG_FORMAT="json")
    syncd = str(installed.bin / "syncd")
    # no SYNCD_CONFIG, no SYNCD_DATABASE_URL: config/syncd.yaml and ./syncd.db of the working directory
    check = _run([syncd, "mappings", "check"], cwd=folder, env=env, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "0 errors" in check.stdout and "mappings/default.yaml" in check.stdout, check.stdout
    assert "against the live HubSpot properties and Mailchimp merge fields" in check.stdout

    once = _run([syncd, "once", "--json"], cwd=folder, env=env, timeout=120)
    assert once.returncode == 0, once.stderr[-3000:]
    summary = json.loads(once.stdout)
    assert summary["ok"] is True
    assert summary["streams"]["hubspot_contacts"]["records_pulled"] >= 50  # of the 60 (a few are merged)
    assert summary["streams"]["mailchimp_members"]["records_pulled"] > 0
    assert summary["streams"]["mailchimp_activity"]["records_pulled"] > 0  # the sandbox's 90 days of campaigns
    assert summary["events_merged"] > 0
    pushed = summary["commands"]["pushed"]
    assert pushed.get("hubspot.update_contact", 0) > 0 and pushed.get("mailchimp.tags", 0) > 0, pushed
    assert summary["quarantined"] == 0
    assert (folder / "syncd.db").is_file()  # the default database, in the working directory
    assert sorted(p.name for p in folder.iterdir()) == ["config", "mappings", "syncd.db"]
    assert sandbox["HUBSPOT_ACCESS_TOKEN"] not in once.stdout + once.stderr + check.stdout + check.stderr


def test_the_images_entry_point_and_health_check_as_installed(installed, sandbox, folder):
    """ENTRYPOINT + CMD of the Dockerfile under its ENV (port moved to a free one), and its HEALTHCHECK
    command: 0 while `syncd run` serves, non-zero when nothing listens, before and after."""
    image = IMAGE
    port = str(_free_port())
    image_env = {**image.env, "SYNCD_HTTP_PORT": port, "SYNCD_DATABASE_URL": f"sqlite:///{folder}/syncd.db"}
    health = [str(installed.bin / image.healthcheck[0]), *image.healthcheck[1:]]
    daemon_cmd = [str(installed.bin / image.entrypoint[0]), *image.entrypoint[1:], *image.cmd]
    assert image.env["SYNCD_HTTP_HOST"] == "0.0.0.0"
    # the health check probes loopback when the daemon listens everywhere; here the daemon itself listens on
    # loopback only (no test opens a port beyond this machine)
    hc_env = installed.env(**image_env)
    daemon_env = installed.env(**{**sandbox, **image_env, "SYNCD_HTTP_HOST": "127.0.0.1", "SYNCD_LOG_LEVEL": "WARNING"})

    before = _run(health, env=hc_env, timeout=30)
    assert before.returncode != 0 and f"127.0.0.1:{port}/healthz unreachable" in before.stderr

    proc = subprocess.Popen(daemon_cmd, cwd=folder, env=daemon_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:  # polling a real subprocess until it serves: bounded
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "syncd run did not serve /healthz within 30 s"
            time.sleep(0.2)
        during = _run(health, env=hc_env, timeout=30)
        assert during.returncode == 0, during.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    after = _run(health, env=hc_env, timeout=30)
    assert after.returncode != 0
