"""Reading the Dockerfile the way the builder does, so tests check (and run) what the image runs."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Dockerfile:
    instructions: list[tuple[str, str]]  # (INSTRUCTION, its arguments), continuation lines joined
    env: dict[str, str] = field(default_factory=dict)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)  # the command of HEALTHCHECK ... CMD [...]
    healthcheck_options: dict[str, str] = field(default_factory=dict)
    user: str = "root"  # the last USER (the builder's default is root)

    def all(self, name: str) -> list[str]:
        return [args for inst, args in self.instructions if inst == name]

    def copies(self) -> list[tuple[str, list[str], str]]:
        """(WORKDIR then in force, sources, destination) of each COPY, in order."""
        workdir, out = "/", []
        for inst, args in self.instructions:
            if inst == "WORKDIR":
                workdir = args
            elif inst == "COPY":
                assert not args.startswith("--"), f"COPY {args}: options are not read here"
                *sources, dest = shlex.split(args)
                out.append((workdir, sources, dest))
        return out


def _exec_form(args: str, where: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), f"{where}: not the exec form"
    return value


def dockerfile(path: Path) -> Dockerfile:
    lines: list[str] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        if raw.lstrip().startswith("#"):  # a comment line, also inside a continued instruction
            continue
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        line = (pending + raw).strip()
        pending = ""
        if line:
            lines.append(line)
    instructions = []
    for line in lines:
        name, _, args = line.partition(" ")
        instructions.append((name.upper(), args.strip()))
    out = Dockerfile(instructions)
    for name, args in instructions:
        if name == "ENV":
            for pair in shlex.split(args):
                key, eq, value = pair.partition("=")
                assert eq, f"ENV {pair}: use the KEY=value form"
                out.env[key] = value
        elif name == "ENTRYPOINT":
            out.entrypoint = _exec_form(args, "ENTRYPOINT")
        elif name == "CMD":
            out.cmd = _exec_form(args, "CMD")
        elif name == "USER":
            out.user = args
        elif name == "HEALTHCHECK":
            options, _, command = args.partition(" CMD ")
            out.healthcheck = _exec_form(command, "HEALTHCHECK")
            out.healthcheck_options = dict(re.findall(r"--([a-z-]+)=(\S+)", options))
    return out
