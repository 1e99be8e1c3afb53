"""The rule files a daemon runs on (the mappings and scoring.yaml): read once as bytes, hashed, validated
from exactly those bytes, and the last good version of each kept in the database.

A daemon notices an edit by the content hash (syncd/scheduler.py); a valid edit becomes the new last good
version; an invalid one is refused while the last good version keeps running, and a restart with a broken
file starts on the stored last good version (saying so loudly) instead of refusing to start. Only the first
start, with nothing stored yet, refuses a broken file.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

FILES = ("mappings", "scoring")
LAST_GOOD = "config.last_good"  # the cursors row holding them ({file: {path, sha256, text}})


@dataclass(frozen=True)
class Files:
    """The bytes of each rule file as read at one moment, and where they came from."""

    paths: dict[str, str]
    texts: dict[str, bytes]

    @property
    def digests(self) -> dict[str, str]:
        return {name: hashlib.sha256(raw).hexdigest() for name, raw in self.texts.items()}


def paths_of(settings: Any) -> dict[str, str]:
    p = settings.config.paths
    return {"mappings": str(p.mappings), "scoring": str(p.scoring)}


def read(settings: Any) -> Files:
    """Read both files (an unreadable one reads as b"" and fails validation, naming the file)."""
    paths = paths_of(settings)
    texts: dict[str, bytes] = {}
    for name, path in paths.items():
        try:
            texts[name] = Path(path).read_bytes()
        except OSError:
            texts[name] = b""
    return Files(paths, texts)


def load(files: Files) -> tuple[Any, Any]:
    """(rules, mappings) from exactly these bytes; problems name the real files. Raises RulesError,
    MappingsError (the mappings first when both are broken, as `load_config` does)."""
    from syncd.mappings import MappingsError, load_mappings
    from syncd.rules import RulesError, parse_rules

    real = files.paths["mappings"]
    with tempfile.TemporaryDirectory(prefix="syncd-config-") as tmp:
        copy = Path(tmp) / Path(real).name
        copy.write_bytes(files.texts["mappings"])
        try:
            if not files.texts["mappings"] and not Path(real).exists():
                raise MappingsError([f"{real}: cannot read: no such file"])
            mappings = load_mappings(copy)
        except MappingsError as exc:
            raise MappingsError([p.replace(str(copy), real) for p in exc.problems]) from None
    if hasattr(mappings, "source"):
        mappings = replace(mappings, source=real)
    scoring = files.paths["scoring"]
    if not files.texts["scoring"] and not Path(scoring).exists():
        raise RulesError([f"{scoring}: cannot read: no such file"])
    try:
        text = files.texts["scoring"].decode("utf-8")
    except UnicodeDecodeError:
        raise RulesError([f"{scoring}:1: not UTF-8 text; save the file as UTF-8"]) from None
    return parse_rules(text, scoring), mappings


def save_last_good(store: Any, files: Files) -> None:
    """Keep `files` as the last good version (they validated)."""
    digests = files.digests
    value = {
        name: {"path": files.paths[name], "sha256": digests[name], "text": files.texts[name].decode("utf-8")}
        for name in FILES
    }
    with store.begin() as conn:
        if store.get_cursor(conn, LAST_GOOD) != value:
            store.set_cursor(conn, LAST_GOOD, value)


def last_good(store: Any) -> Files | None:
    """The stored last good version, or None before any was stored."""
    with store.begin() as conn:
        value = store.get_cursor(conn, LAST_GOOD)
    if not isinstance(value, dict) or any(name not in value for name in FILES):
        return None
    return Files(
        {name: str(value[name]["path"]) for name in FILES},
        {name: str(value[name]["text"]).encode("utf-8") for name in FILES},
    )


def describe_error(exc: BaseException) -> str:
    """Every problem of a refused file, on one line ("file:line: reason; file:line: reason")."""
    problems = getattr(exc, "problems", None)
    return "; ".join(str(p) for p in problems) if problems else str(exc)


class StartupRefused(Exception):
    """The files are broken and no last good version is stored (or the store cannot be read)."""


def startup(settings: Any) -> tuple[tuple[Any, Any], Files, str | None]:
    """What `syncd run` starts a workspace on: ((rules, mappings), the files they came from, None) when the
    files are good; when they are broken, the stored last good version and the error that refused the files.
    Raises StartupRefused (the files' own error) when there is no last good version to fall back on."""
    from syncd.mappings import MappingsError
    from syncd.rules import RulesError

    files = read(settings)
    try:
        return load(files), files, None
    except (RulesError, MappingsError) as exc:
        error = describe_error(exc)
    from syncd.store.db import StoreError, open_store

    try:
        store = open_store(settings.database_url, schema=settings.database_schema)
    except StoreError as exc:
        raise StartupRefused(f"{error} (and no last good version could be read: {exc})") from None
    try:
        good = last_good(store)
    finally:
        store.close()
    if good is None:
        raise StartupRefused(error)
    # the stored text runs, under the paths the settings name now
    good = Files(files.paths, good.texts)
    try:
        return load(good), good, error
    except (RulesError, MappingsError) as exc:
        raise StartupRefused(f"{error} (the stored last good version is refused too: {describe_error(exc)})") from None
