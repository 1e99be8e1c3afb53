"""Reading the YAML files admins edit (syncd.yaml, scoring.yaml, the mappings), and where a value sits.

One reader for all three, so each refuses the same things with the same `file:line: reason`: bytes that
are not UTF-8, control characters (NUL, BEL, ESC... which PyYAML either rejects with a traceback or lets
through into values), YAML syntax errors, and duplicate keys (PyYAML silently keeps the last of two
equal keys, so an admin's first entry would vanish without a word).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

# Characters a config file may not hold: C0 controls except tab, newline and carriage return, DEL, and
# the C1 controls (U+0080-U+009F). A BOM at the very start is allowed (editors write one).
_ALLOWED_CONTROLS = {"\t", "\n", "\r"}


class YamlFileError(ValueError):
    """A YAML file could not be read. `problems` lists each as "file:line: reason"; `columns` holds the
    1-based column of each problem where the reader knows it (a syntax error's mark), else None."""

    def __init__(self, problems: Sequence[str], columns: Sequence[int | None] | None = None) -> None:
        self.problems = list(problems)
        self.columns = list(columns) if columns is not None else [None] * len(self.problems)
        super().__init__("\n".join(self.problems))


def read_yaml(path: str | Path, label: str | None = None) -> tuple[yaml.Node | None, Any]:
    """Read and parse the YAML file at `path` (named `label` in problems; default the path as given).

    Returns (root node, data); both are None for an empty file (comments only). The node tree gives
    lines for later errors (`line_of`). Raises YamlFileError: unreadable file, bytes that are not UTF-8,
    control characters, YAML syntax, duplicate keys (every duplicate listed).
    """
    name = label or str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise YamlFileError([f"{name}: cannot read: {exc.strerror or exc}"]) from None
    return parse_yaml_bytes(raw, name)


def parse_yaml_bytes(raw: bytes, name: str) -> tuple[yaml.Node | None, Any]:
    """`read_yaml` for bytes already in memory (see there)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise YamlFileError(
            [f"{name}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {column}); save the file as UTF-8"]
        ) from None
    return parse_yaml_text(text, name)


def parse_yaml_text(text: str, name: str) -> tuple[yaml.Node | None, Any]:
    """`read_yaml` for text already in memory (see there)."""
    text = text.removeprefix("\ufeff")
    problems = _control_characters(text, name)
    if problems:
        raise YamlFileError(problems)
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, None
        duplicates = duplicate_keys(root)
        if duplicates:
            raise YamlFileError([f"{name}:{line}: {reason}" for line, reason in duplicates])
        return root, loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        reason = f"{exc.context} {exc.problem}" if exc.context else str(exc.problem)
        raise YamlFileError([f"{name}:{line}: not valid YAML: {reason}"], [mark.column + 1 if mark else 1]) from None
    except yaml.YAMLError as exc:
        raise YamlFileError([f"{name}:1: not valid YAML: {exc}"]) from None
    finally:
        loader.dispose()


def _control_characters(text: str, name: str) -> list[str]:
    found: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        for column, ch in enumerate(line, start=1):
            code = ord(ch)
            if (code < 0x20 and ch not in _ALLOWED_CONTROLS) or 0x7F <= code <= 0x9F:
                label = unicodedata.name(ch, "") or _C0_NAMES.get(code, "control character")
                found.append(
                    f"{name}:{number}: control character U+{code:04X} ({label}) at column {column} is not allowed"
                )
                break  # one per line is enough to find it
    return found


_C0_NAMES = {0x00: "NUL", 0x07: "BEL", 0x08: "BS", 0x0B: "VT", 0x0C: "FF", 0x1B: "ESC", 0x7F: "DEL"}


def duplicate_keys(node: yaml.Node) -> list[tuple[int, str]]:
    """(line, "duplicate key 'x' (first on line N)") for every repeated key of every mapping under `node`."""
    found: list[tuple[int, str]] = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                line = key.start_mark.line + 1
                if key.value in seen:
                    found.append((line, f"duplicate key '{key.value}' (first on line {seen[key.value]})"))
                seen.setdefault(key.value, line)
            found += duplicate_keys(value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            found += duplicate_keys(item)
    return found


def line_of(root: yaml.Node, path: Sequence[Any]) -> int:
    """1-based line of the deepest node found along `path` (mapping keys and sequence indexes; a mapping
    key's own line). Parts that are not in the file (e.g. the union tags in pydantic error locations, or
    a missing key) are skipped, so the answer is the closest enclosing node."""
    return position_of(root, path)[0]


def position_of(root: yaml.Node, path: Sequence[Any], value: bool = False) -> tuple[int, int]:
    """(line, column), both 1-based, of the deepest node found along `path`, as `line_of` finds it: a
    mapping key's own position, or with `value` the position of the value the whole path names (the
    misspelt word itself, for an error about a value)."""
    node, mark = root, root.start_mark
    found_all = True
    for part in path:
        if isinstance(node, yaml.MappingNode):
            hit = next(
                ((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and str(k.value) == str(part)), None
            )
            if hit is not None:
                mark, node = hit[0].start_mark, hit[1]
                continue
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            mark = node.start_mark
            continue
        found_all = False
    if value and found_all:
        mark = node.start_mark
    return mark.line + 1, mark.column + 1
