"""Print which of the project's packages import which (`python tools/import_graph.py`), from the source:
every `import` and `from ... import` of contracts/, connectors/, syncd/ and sandbox/, at module level or
inside functions, except the ones under `if TYPE_CHECKING:` (types only, nothing runs)."""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("contracts", "connectors", "syncd", "sandbox")


def layer(module: str) -> str:
    """`syncd.domain.x` -> "syncd.domain"; `syncd.x` -> "syncd"; others by their top package."""
    parts = module.split(".")
    if parts[0] == "syncd" and len(parts) > 1 and parts[1] == "domain":
        return "syncd.domain"
    return parts[0]


def imports(path: Path) -> list[tuple[str, int]]:
    """(imported module, line) of every runtime import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
    return found


def module_of(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    return ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)


def graph() -> dict[str, dict[str, list[str]]]:
    """layer -> imported layer -> ["file:line", ...] (only the project's own layers)."""
    out: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            src = layer(module_of(path))
            for module, line in imports(path):
                dst = layer(module)
                if module.split(".")[0] in PACKAGES and dst != src:
                    out[src][dst].append(f"{path.relative_to(ROOT)}:{line}")
    return out


def main() -> int:
    for src, targets in sorted(graph().items()):
        for dst, where in sorted(targets.items()):
            print(f"{src:>13} -> {dst:<13} {len(where):>3} imports  (e.g. {where[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
