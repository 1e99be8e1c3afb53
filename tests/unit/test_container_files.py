"""The image's and compose's files, read as the builder and compose read them: the Dockerfile installs the
lock with its hashes and then syncd alone, runs as a user that is not root, checks its health with syncd's own
entry point; requirements.lock pins what pyproject.toml asks for; docker-compose.yml waits for healthy
services, leaves room for the drain, sets only variables syncd reads, keeps its secrets out of git, and its
demo profile points syncd at the sandbox it starts. (What the image runs is run in
tests/integration/test_installed_wheel.py.)"""

from __future__ import annotations

import fnmatch
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.world import SandboxConfig, World
from syncd.cli import build_parser
from syncd.settings import ENV_FIELDS, SECRET_ENV, SyncConfig
from tests.container_support import dockerfile

ROOT = Path(__file__).resolve().parents[2]
IMAGE = dockerfile(ROOT / "Dockerfile")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
# the services that run syncd's image (built from this tree)
SYNCD_SERVICES = {name: s for name, s in SERVICES.items() if s.get("build") == "."}
# every variable syncd reads: its settings, and NAME_FILE for each secret
SYNCD_READS = set(ENV_FIELDS) | {f"{name}_FILE" for name in SECRET_ENV}


def _requirement(line: str) -> tuple[str, str]:
    name, _, version = line.split(";")[0].strip().partition("==")
    return re.sub(r"[-_.]+", "-", name.split("[")[0]).lower(), version


def _lock() -> dict[str, list[str]]:
    """requirements.lock: {normalized name: [version, hash...]}."""
    out: dict[str, list[str]] = {}
    current = ""
    for raw in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        line = raw.strip().rstrip("\\").strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("--hash="):
            out[current].append(line.removeprefix("--hash="))
        else:
            current, version = _requirement(line)
            out[current] = [version]
    return out


def _seconds(duration: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"not a compose duration: {duration}"
    return sum(float(n) * units[u] for n, u in parts)


# -- Dockerfile -------------------------------------------------------------------------------------


def test_the_image_installs_the_lock_with_its_hashes_then_syncd_without_dependencies():
    runs = IMAGE.all("RUN")
    installs = [(i, cmd) for i, run in enumerate(runs) for cmd in run.split("&&") if "pip install" in cmd]
    assert len(installs) == 2, installs
    (first_run, lock), (second_run, project) = installs
    assert first_run < second_run
    assert "--require-hashes" in lock.split() and re.search(r"-r\s+\S*requirements\.lock\b", lock)
    assert [*IMAGE.copies()[0][1], IMAGE.copies()[0][2]] == ["requirements.lock", "/tmp/requirements.lock"]
    assert "--no-deps" in project.split() and "--no-build-isolation" in project.split()
    assert project.split()[-1] == "/src"
    # the build backend the project install uses (no isolation) is in the lock
    lock_pins = _lock()
    for requirement in PYPROJECT["build-system"]["requires"]:
        assert re.split(r"[<>=!~ ]", requirement)[0].lower() in lock_pins, requirement


def test_the_image_copies_every_package_and_what_its_package_data_links_to():
    copied = {
        Path(source).parts[0] for _wd, sources, dest in IMAGE.copies() if dest.startswith("/src") for source in sources
    }
    tops = {p.rstrip("*") for p in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert tops <= copied, f"not copied into /src: {tops - copied}"
    links = [p for p in (ROOT / "syncd/data").iterdir() if p.is_symlink()]
    assert links, "syncd/data holds links to the admin-facing files"
    for link in links:
        target = link.resolve().relative_to(ROOT)
        assert target.parts[0] in copied, f"{link.name} -> {target}: not copied into /src"
    ignored = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    for _workdir, sources, _dest in IMAGE.copies():
        for source in sources:
            assert (ROOT / source).exists(), source
            assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), f"{source} is dockerignored"


def test_dockerignore_keeps_secrets_databases_and_caches_out():
    patterns = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    for needed in (".git", ".venv", "secrets", "*.db", ".pytest_cache", ".hypothesis", "**/__pycache__", ".env"):
        assert needed in patterns, needed


def test_the_image_runs_syncd_run_as_a_user_that_is_not_root():
    assert IMAGE.user not in ("root", "0", "") and not IMAGE.user.startswith(("0:", "root:"))
    commands = [shlex.split(c) for run in IMAGE.all("RUN") for c in run.split("&&")]
    (useradd,) = [c for c in commands if c[0] == "useradd"]
    assert useradd[-1] == IMAGE.user, "USER is the user the image creates"
    assert int(useradd[useradd.index("--uid") + 1]) > 0
    # its only writable place is the data volume
    assert ["chown", IMAGE.user, "/data"] in commands
    assert IMAGE.all("FROM") == ["python:3.11-slim"]
    # the lock is resolved for the image's Python
    assert "--python-version 3.11" in (ROOT / "Makefile").read_text()


def test_the_images_entry_point_command_and_health_check_are_syncds():
    scripts = PYPROJECT["project"]["scripts"]
    assert IMAGE.entrypoint == ["syncd"] and scripts["syncd"] == "syncd.cli:main"
    assert IMAGE.cmd == ["run"] and build_parser().parse_args(IMAGE.cmd).func.__name__ == "_cmd_run"
    assert IMAGE.healthcheck == ["syncd-healthcheck"] and scripts["syncd-healthcheck"] == "syncd.healthcheck:main"
    assert _seconds(IMAGE.healthcheck_options["timeout"]) < _seconds(IMAGE.healthcheck_options["interval"])


def test_the_image_listens_everywhere_and_sets_only_variables_syncd_reads():
    assert IMAGE.env["SYNCD_HTTP_HOST"] == "0.0.0.0"
    assert IMAGE.env["SYNCD_HTTP_PORT"] == "8080" and IMAGE.all("EXPOSE") == ["8080"]
    ours = {k for k in IMAGE.env if k.startswith(("SYNCD_", "HUBSPOT_", "MAILCHIMP_"))}
    assert ours <= SYNCD_READS, ours - SYNCD_READS
    assert IMAGE.env["SYNCD_DATABASE_URL"].startswith("sqlite:////data/") and IMAGE.all("VOLUME") == ["/data"]


# -- requirements.lock --------------------------------------------------------------------------------


def test_the_lock_pins_what_pyproject_asks_for_each_with_hashes():
    lock = _lock()
    wanted = PYPROJECT["project"]["dependencies"] + PYPROJECT["project"]["optional-dependencies"]["sandbox"]
    for requirement in wanted:
        name, version = _requirement(requirement)
        assert name in lock, f"{name} is not in requirements.lock: run make lock"
        assert lock[name][0] == version, f"{name}: pyproject.toml pins {version}, the lock {lock[name][0]}: make lock"
    for name, (version, *hashes) in lock.items():
        assert re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", version), f"{name}: not an exact pin"
        assert hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), name
    test_only = {_requirement(r)[0] for r in PYPROJECT["project"]["optional-dependencies"]["test"]}
    assert not test_only & set(lock), f"test tools in the image: {test_only & set(lock)}"
    assert "make lock" in (ROOT / "requirements.lock").read_text().splitlines()[1]


# -- docker-compose.yml ---------------------------------------------------------------------------


def test_compose_starts_syncd_only_once_its_dependencies_are_healthy():
    for name, service in SERVICES.items():
        for dependency, how in service.get("depends_on", {}).items():
            assert how == {"condition": "service_healthy"}, (name, dependency)
            target = SERVICES[dependency]
            assert target.get("healthcheck") or target.get("build") == ".", f"{dependency} has no health check"
    postgres = [s for s in SERVICES.values() if str(s.get("image", "")).startswith("postgres:")]
    assert len(postgres) == 2
    for service in postgres:
        test = service["healthcheck"]["test"]
        assert test[0] == "CMD" and test[1] == "pg_isready", test
        user = service["environment"]["POSTGRES_USER"]
        assert f"--username={user}" in test and f"--dbname={service['environment']['POSTGRES_DB']}" in test
    live = SERVICES["syncd"]
    assert live["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert live["environment"]["SYNCD_DATABASE_URL"].startswith("postgresql://syncd:")
    assert "@postgres:5432/syncd" in live["environment"]["SYNCD_DATABASE_URL"]


def test_compose_gives_syncd_more_time_to_stop_than_the_drain_takes():
    drain_s = SyncConfig().drain_s
    assert drain_s == 8
    for name, service in SYNCD_SERVICES.items():
        assert _seconds(service["stop_grace_period"]) > drain_s + 5, name  # the drain, then leases and exit


def test_compose_publishes_syncds_port_and_every_service_has_a_profile():
    for name, service in SERVICES.items():
        assert service.get("profiles") in (["live"], ["demo"]), name
    for name in ("syncd", "syncd-demo"):
        ports = SERVICES[name]["ports"]
        assert ports and all(str(p).endswith(":8080") for p in ports), (name, ports)
    replicas = SERVICES["syncd"]["deploy"]["replicas"]
    first, last = re.fullmatch(r"127\.0\.0\.1:(\d+)-(\d+):8080", SERVICES["syncd"]["ports"][0]).groups()  # type: ignore[union-attr]
    assert int(last) - int(first) + 1 == replicas, "one host port per replica"


def test_compose_sets_only_variables_syncd_reads():
    for name, service in SYNCD_SERVICES.items():
        env = service.get("environment", {})
        assert isinstance(env, dict), f"{name}: environment as a mapping"
        assert set(env) <= SYNCD_READS, f"{name}: {set(env) - SYNCD_READS} are not read by syncd"


def test_compose_secrets_come_from_files_in_secrets_which_git_ignores():
    declared = COMPOSE["secrets"]
    live = SERVICES["syncd"]
    assert set(live["secrets"]) == set(declared)
    for variable, path in live["environment"].items():
        if variable.endswith("_FILE"):
            assert path.startswith("/run/secrets/") and path.removeprefix("/run/secrets/") in live["secrets"]
    files = {name: spec["file"] for name, spec in declared.items()}
    assert all(f == f"./secrets/{name}" for name, f in files.items()), files
    readme = (ROOT / "secrets/README.md").read_text()
    for name in files:
        assert (ROOT / f"secrets/{name}.example").is_file(), name
        assert f"`{name}`" in readme, name
    for name, service in SERVICES.items():
        if name != "syncd":
            assert "secrets" not in service, f"{name} needs no secret"
            assert not any(k.endswith("_FILE") for k in service.get("environment", {})), name
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("no git checkout here to ask what it ignores")
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", *[f"secrets/{n}" for n in files], "secrets/other"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert ignored.stdout.split() == [*[f"secrets/{n}" for n in files], "secrets/other"]
    kept = subprocess.run(
        ["git", "check-ignore", "--no-index", "secrets/README.md", *[f"secrets/{n}.example" for n in files]],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert kept.returncode == 1 and kept.stdout == "", kept.stdout


def test_the_demo_profile_points_syncd_at_the_sandbox_it_runs():
    sandbox, demo = SERVICES["sandbox"], SERVICES["syncd-demo"]
    args = build_parser().parse_args(sandbox["command"])
    assert args.func.__name__ == "_cmd_sandbox" and args.host == "0.0.0.0"
    assert sandbox["ports"] == [f"127.0.0.1:{args.port}:{args.port}"]
    assert f"http://127.0.0.1:{args.port}/_sandbox/clock" in sandbox["healthcheck"]["test"][-1]
    assert demo["depends_on"]["sandbox"] == {"condition": "service_healthy"}
    # exactly what that sandbox exports, with its service name as the host
    expected = World(SandboxConfig(contacts=1, seed=args.seed, history_days=0)).env(f"http://sandbox:{args.port}")
    assert {k: demo["environment"][k] for k in expected} == expected
    assert "@postgres-demo:5432/" in demo["environment"]["SYNCD_DATABASE_URL"]
    assert demo["depends_on"]["postgres-demo"] == {"condition": "service_healthy"}


def _compose_cli() -> list[str] | None:
    """`docker compose` (v2) or else `docker-compose` (v1), when one is installed; neither needs an engine
    to read a file."""
    for cli in (["docker", "compose"], ["docker-compose"]):
        try:
            if subprocess.run([*cli, "version"], capture_output=True, timeout=30).returncode == 0:
                return cli
        except (FileNotFoundError, subprocess.TimeoutExpired):
            continue
    return None


def test_docker_compose_itself_accepts_the_file():
    cli = _compose_cli()
    if cli is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed here; the file is checked above")
    for profile in ("live", "demo"):
        proc = subprocess.run(
            [*cli, "--profile", profile, "config", "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, proc.stderr


# -- package data ---------------------------------------------------------------------------------


def test_the_shipped_files_are_the_admin_facing_ones_linked_into_the_package():
    """One copy of each in the tree: syncd/data/ links to it (the wheel then holds its contents)."""
    from syncd.resources import SHIPPED, shipped

    for name in SHIPPED:
        link = ROOT / "syncd/data" / name
        assert link.is_symlink(), f"{link}: not a symbolic link (a checkout without symlinks?)"
        assert link.resolve().parent in (ROOT / "config", ROOT / "mappings"), link.resolve()
        assert Path(str(shipped(name))).read_bytes() == link.resolve().read_bytes()
    with pytest.raises(ValueError, match="not a file syncd ships"):
        shipped("syncd.yaml")
