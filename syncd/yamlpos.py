"""Where a value sits in a YAML file, so that every configuration error can say `file:line`."""
from __future__ import annotations

from typing import Any, Sequence

import yaml


def line_of(root: yaml.Node, path: Sequence[Any]) -> int:
    """1-based line of the deepest node found along `path` (mapping keys and sequence indexes; a mapping
    key's own line). Parts that are not in the file (e.g. the union tags in pydantic error locations, or
    a missing key) are skipped, so the answer is the closest enclosing node."""
    node, line = root, root.start_mark.line + 1
    for part in path:
        if isinstance(node, yaml.MappingNode):
            hit = next(((k, v) for k, v in node.value
                        if isinstance(k, yaml.ScalarNode) and str(k.value) == str(part)), None)
            if hit is not None:
                line, node = hit[0].start_mark.line + 1, hit[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
    return line
