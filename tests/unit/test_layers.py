"""Dependencies run one way: syncd (core) -> connectors -> contracts; the pure core (syncd/domain) imports
only itself, the contracts and the standard library; the sandbox is an optional extra, imported only by
`syncd sandbox` and `syncd demo` when they run; test machinery lives in tests/. A forbidden import fails
here, naming the file and line (tools/import_graph.py prints the whole graph)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

from import_graph import graph, imports, module_of  # noqa: E402

ALLOWED = {  # layer -> the project's layers it may import
    "contracts": set(),
    "connectors": {"contracts"},
    "syncd.domain": {"contracts"},
    "syncd": {"syncd.domain", "connectors", "contracts", "sandbox"},  # sandbox: see the lazy-import test
    "sandbox": set(),
}
# third-party packages the pure core may use: no I/O among them
DOMAIN_THIRD_PARTY = {"re2"}


def test_layers_import_only_downwards():
    found = graph()
    wrong = [
        f"{src} -> {dst}: {', '.join(where[:3])}"
        for src, targets in found.items()
        for dst, where in targets.items()
        if dst not in ALLOWED.get(src, set())
    ]
    assert wrong == []


def test_the_pure_core_imports_no_io_library():
    stdlib = set(sys.stdlib_module_names)
    bad = []
    for path in sorted((ROOT / "syncd/domain").rglob("*.py")):
        for module, line in imports(path):
            top = module.split(".")[0]
            if top not in stdlib and top not in DOMAIN_THIRD_PARTY and top not in ("syncd", "contracts"):
                bad.append(f"{path.relative_to(ROOT)}:{line}: {module}")
            if module.startswith(("socket", "urllib.request", "http", "sqlite3", "subprocess", "requests")):
                bad.append(f"{path.relative_to(ROOT)}:{line}: {module} (I/O)")
    assert bad == []


def test_the_sandbox_is_imported_only_inside_the_commands_that_run_it():
    offenders = []
    for path in sorted((ROOT / "syncd").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top_level = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            module = (
                node.module
                if isinstance(node, ast.ImportFrom)
                else node.names[0].name
                if isinstance(node, ast.Import)
                else None
            )
            if not module or module.split(".")[0] != "sandbox":
                continue
            owner = next(
                (
                    f.name
                    for f in ast.walk(tree)
                    if isinstance(f, ast.FunctionDef) and any(n is node for n in ast.walk(f))
                ),
                None,
            )
            if id(node) in top_level or (module_of(path), owner) not in {
                ("syncd.cli", "_cmd_sandbox"),
                ("syncd.demo", "run_demo"),
            }:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {module} in {owner or 'the module'}")
    assert offenders == []


def test_the_daemon_runs_without_the_sandbox_extra():
    """Importing everything `syncd run` uses loads neither the sandbox nor numpy nor uvloop."""
    code = (
        "import sys, syncd.cli, syncd.app, syncd.scheduler, syncd.pipeline, syncd.web.app, syncd.plan, "
        "syncd.explain; print(sorted(m for m in ('sandbox', 'numpy', 'uvloop', 'httptools') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_no_test_machinery_ships_in_the_product():
    for package in ("syncd", "connectors", "contracts"):
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            assert "signal.SIGKILL" not in text and "os.kill(" not in text, path
            assert "SYNCD_FAULT" not in text, path


@pytest.mark.parametrize("module", ["connectors.hubspot.sink", "connectors.mailchimp.sink", "contracts.calls"])
def test_connectors_and_contracts_load_without_the_core(module):
    code = f"import sys, {module}; print([m for m in sys.modules if m == 'syncd' or m.startswith('syncd.')])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
