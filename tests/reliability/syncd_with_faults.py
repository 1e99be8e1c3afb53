"""`python tests/reliability/syncd_with_faults.py once --json`: syncd's command line with the test fault
points (faultpoints.py) installed from the environment, for the reliability suite's subprocesses."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from faultpoints import install

install()

from syncd.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
