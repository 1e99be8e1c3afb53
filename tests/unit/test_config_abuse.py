"""Config abuse, generated from the shipped files themselves so a new field is covered without a new test:
every leaf of config/syncd.yaml, config/scoring.yaml and mappings/default.yaml is given values of the wrong
type (text for a number, a number for text, a list or a mapping for a scalar, a scalar for a list or a
mapping, a huge number, null). Through the real loaders each is accepted or refused with the loader's own
error naming the file and the field (by its key) with a line; never another exception. Empty, missing and
syntactically broken files likewise, and through the CLI (`syncd once`, `syncd mappings check`): exit 1, a
reason naming the file, no traceback. test_config_files.py covers bytes, duplicate keys and patterns."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from syncd.mappings import MappingsError, load_mappings
from syncd.rules import RulesError, load_rules
from syncd.settings import SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]
FILES = {
    "syncd.yaml": ROOT / "config/syncd.yaml",
    "scoring.yaml": ROOT / "config/scoring.yaml",
    "mappings.yaml": ROOT / "mappings/default.yaml",
}
ERRORS = (SettingsError, RulesError, MappingsError)


def _leaves(doc: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """Every (path, value) of a document, containers included (a list contributes its first item)."""
    if path:
        yield path, doc
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(doc, list) and doc:
        yield from _leaves(doc[0], (*path, 0))


def _wrong(value: Any) -> list[Any]:
    """Values of the wrong type (or absurd) for `value`."""
    if isinstance(value, bool):
        return ["maybe", 2, [True]]
    if isinstance(value, (int, float)):
        return ["many", True, [value], {"n": value}, 10**40, None]
    if isinstance(value, str):
        return [12345, True, [value], {"x": value}]
    if isinstance(value, list):
        return ["not a list", 7, {"a": 1}]
    if isinstance(value, dict):
        return ["not a mapping", [1, 2]]
    return ["surprise", 1]


def _set(doc: Any, path: tuple, value: Any) -> Any:
    import copy

    out = copy.deepcopy(doc)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


def _cases() -> list[tuple[str, tuple, Any]]:
    """Every leaf with one of its wrong values (chosen by the leaf's path, so each kind of wrong value
    shows up across the file); SYNCD_CONFIG_ABUSE_ALL=1 (`make soak`) gives every leaf every wrong value."""
    import zlib

    every = bool(os.environ.get("SYNCD_CONFIG_ABUSE_ALL"))
    cases = []
    for kind, path in FILES.items():
        doc = yaml.safe_load(path.read_text())
        for where, value in _leaves(doc):
            wrong = _wrong(value)
            pick = wrong if every else [wrong[zlib.crc32(repr(where).encode()) % len(wrong)]]
            cases.extend((kind, where, bad) for bad in pick)
    return cases


CASES = _cases()


def _load(kind: str, path: Path) -> None:
    if kind == "syncd.yaml":
        load_settings({}, str(path))
    elif kind == "scoring.yaml":
        load_rules(path)
    else:
        load_mappings(path)


def _name(key: Any) -> str:
    return str(key)


def test_the_cases_cover_every_field_of_every_file() -> None:
    for kind, path in FILES.items():
        paths = {where for k, where, _ in CASES if k == kind}
        assert len(paths) == len(list(_leaves(yaml.safe_load(path.read_text())))) > 3, kind
    assert len(CASES) > 100, len(CASES)


@pytest.mark.parametrize("kind", list(FILES))
def test_every_field_with_a_wrong_value_is_refused_with_file_field_and_line_or_accepted(tmp_path, kind) -> None:
    refused = accepted = 0
    must_refuse = []
    for k, where, bad in CASES:
        if k != kind:
            continue
        doc = yaml.safe_load(FILES[kind].read_text())
        path = tmp_path / kind
        path.write_text(yaml.safe_dump(_set(doc, where, bad), allow_unicode=True, sort_keys=False))
        try:
            _load(kind, path)
        except ERRORS as exc:
            refused += 1
            problems = list(exc.problems)
            assert problems and all(p.startswith(f"{path}:") for p in problems), (where, bad, problems)
            named = [p for p in problems if any(_name(key) in p for key in where if not isinstance(key, int))]
            named = named or [p for p in problems if isinstance(where[-1], int)]
            assert named, f"{kind} {'.'.join(map(str, where))} = {bad!r}: no problem names the field: {problems}"
            assert any(p[len(str(path)) + 1 :].split(":")[0].isdigit() for p in problems), problems  # a line
        except Exception as exc:  # anything else is a crash
            pytest.fail(f"{kind} {'.'.join(map(str, where))} = {bad!r}: {type(exc).__name__}: {exc}")
        else:
            accepted += 1
            original = _get(yaml.safe_load(FILES[kind].read_text()), where)
            # a number or a boolean given text, a list or a mapping can only be refused
            if isinstance(original, (int, float)) and not isinstance(bad, (int, float)) and bad is not None:
                must_refuse.append((where, bad))
    assert must_refuse == [], must_refuse[:10]
    assert refused > accepted, (refused, accepted)


def _get(doc: Any, path: tuple) -> Any:
    for key in path:
        doc = doc[key]
    return doc


@pytest.mark.parametrize("kind", list(FILES))
@pytest.mark.parametrize(
    "text,says",
    [
        ("", "empty"),
        ("# only a comment\n", "empty"),
        ("key: [unclosed\n", "not valid YAML"),
        ("a: 1\n\tb: 2\n", "not valid YAML"),
        ("- a\n- list\n", ""),
        ("just text\n", ""),
        ("x: !!python/object:os.system ls\n", ""),
    ],
)
def test_empty_broken_and_wrong_shaped_files_are_refused_naming_the_file(tmp_path, kind, text, says) -> None:
    path = tmp_path / kind
    path.write_text(text)
    try:
        _load(kind, path)
    except ERRORS as exc:
        assert all(p.startswith(f"{path}") for p in exc.problems), exc.problems
        assert says in " ".join(exc.problems), exc.problems
    else:
        assert kind == "syncd.yaml" and says == "empty", "only syncd.yaml may be empty (all defaults)"


@pytest.mark.parametrize("kind", list(FILES))
def test_a_missing_file_is_refused_naming_it(tmp_path, kind) -> None:
    path = tmp_path / "nowhere" / kind
    with pytest.raises(ERRORS) as err:
        _load(kind, path)
    assert any(str(path) in p for p in err.value.problems), err.value.problems


ENV = {
    "HUBSPOT_ACCESS_TOKEN": "pat-na1-00000000-0000-0000-0000-000000000000",
    "MAILCHIMP_API_KEY": "0123456789abcdef0123456789abcdef-us1",
    "MAILCHIMP_LIST_ID": "abc123",
    "HUBSPOT_BASE_URL": "http://127.0.0.1:9",
    "MAILCHIMP_BASE_URL": "http://127.0.0.1:9/3.0",
    "SYNCD_LOG_LEVEL": "ERROR",
}
CLI_CASES = [
    ("syncd.yaml", "lag_window_s: many\n", "lag_window_s"),
    ("syncd.yaml", "intervals: [1, 2]\n", "intervals"),
    ("syncd.yaml", "batch_sizes: {hubspot_page: 1.0e+40}\n", "batch_sizes.hubspot_page"),
    ("scoring.yaml", "", "empty"),
    ("scoring.yaml", "version: [\n", "not valid YAML"),
    ("scoring.yaml", "SWAP:decay", "decay"),
    ("mappings.yaml", "SWAP:consent", "consent"),
    ("mappings.yaml", "fields: {a: 1}\n", "fields"),
    ("mappings.yaml", "", "empty"),
]


def _cli(argv: list[str], env: dict[str, str], monkeypatch) -> tuple[int, str, str]:
    from syncd.cli import main

    for k in [k for k in os.environ if k.startswith(("SYNCD_", "HUBSPOT_", "MAILCHIMP_"))]:
        monkeypatch.delenv(k)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("kind,text,says", CLI_CASES, ids=[f"{k}:{s}" for k, _, s in CLI_CASES])
def test_the_cli_refuses_a_broken_file_with_its_name_and_no_traceback(tmp_path, monkeypatch, kind, text, says):
    files = {k: tmp_path / k for k in FILES}
    for k, p in files.items():
        p.write_text(FILES[k].read_text() if k != "syncd.yaml" else "")
    if text.startswith("SWAP:"):  # the shipped file with one section's value replaced by a scalar
        key = text.split(":", 1)[1]
        doc = yaml.safe_load(FILES[kind].read_text())
        doc[key] = "oops"
        text = yaml.safe_dump(doc, sort_keys=False)
    paths = f"paths: {{mappings: {files['mappings.yaml']}, scoring: {files['scoring.yaml']}}}\n"
    files[kind].write_text(text if kind != "syncd.yaml" else text + paths)
    if kind == "syncd.yaml":
        files["syncd.yaml"].write_text(paths + text)
    else:
        files["syncd.yaml"].write_text(paths)
    env = {**ENV, "SYNCD_CONFIG": str(files["syncd.yaml"]), "SYNCD_DATABASE_URL": f"sqlite:///{tmp_path}/s.db"}
    commands = [["once"]] + ([["mappings", "check", "--offline"]] if kind == "mappings.yaml" else [])
    for argv in commands:
        rc, out, err = _cli(argv, env, monkeypatch)
        text_out = out + err
        assert rc == 1, (argv, rc, text_out)
        assert "Traceback" not in text_out, text_out
        first = err.strip().splitlines()[0]
        assert first.startswith(f"syncd {argv[0]}:"), err
        if argv[0] == "once" or says in ("empty", "not valid YAML"):
            named = files[kind].name if kind != "syncd.yaml" else "syncd.yaml"
            assert named in text_out and says.split(".")[-1] in text_out, (argv, text_out)


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["fields"][0].__setitem__("hubspot", ["firstname"]),
        lambda d: d["owned_properties"].__setitem__(0, ["syncd_score"]),
        lambda d: d["contacts_from_mailchimp"].__setitem__("source_property", {"a": 1}),
        lambda d: d.__setitem__("tag_rules", [{"from_mailchimp_tags": ["x"], "hubspot": ["syncd_tags"]}]),
    ],
    ids=["field hubspot", "owned property", "source_property", "tag rule hubspot"],
)
def test_a_list_or_mapping_where_a_property_name_belongs_is_refused_not_a_crash(tmp_path, edit) -> None:
    """Regression: the semantic checks looked such a value up in a set (TypeError: unhashable type)."""
    doc = yaml.safe_load(FILES["mappings.yaml"].read_text())
    edit(doc)
    path = tmp_path / "mappings.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(MappingsError) as err:
        load_mappings(path)
    assert all(p.startswith(f"{path}:") for p in err.value.problems), err.value.problems
