"""Files that ship inside the syncd package (package data), found with importlib.resources.

The JSON Schemas syncd validates against and the default scoring rules travel in the wheel, so an
installed syncd (the container image, `pip install .`) finds them wherever it runs. The files an admin
edits (config/syncd.yaml, config/scoring.yaml, mappings/default.yaml, or the paths configured) are still
read from the working directory: only what belongs to the program comes from here.

In the source tree `syncd/data/` holds symbolic links to the admin-facing copies (mappings/schema.json,
config/scoring.yaml, config/scoring.schema.json), so there is one file of each; building the wheel copies
their contents into the package.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable

MAPPINGS_SCHEMA = "mappings.schema.json"  # the JSON Schema of a mappings file
SCORING_SCHEMA = "scoring.schema.json"  # the JSON Schema of scoring.yaml (for editors; generated)
DEFAULT_SCORING = "scoring.yaml"  # the scoring rules syncd ships with

SHIPPED = (MAPPINGS_SCHEMA, SCORING_SCHEMA, DEFAULT_SCORING)


def shipped(name: str) -> Traversable:
    """The shipped file `name` (one of SHIPPED) inside the installed package."""
    if name not in SHIPPED:
        raise ValueError(f"{name!r} is not a file syncd ships (one of {', '.join(SHIPPED)})")
    return files("syncd") / "data" / name
