"""The kill soak (soak.py) in small: `syncd run` SIGKILLed 5 times at random moments under 20 % faults in a
small world with hostile records, restarted each time, the invariants checked after every kill, and the
final state equal to an uninterrupted run's. `make soak` runs the long version (50 kills and more)."""

from __future__ import annotations

from pathlib import Path

import pytest
from soak import Options, run_soak

pytestmark = pytest.mark.slow


def test_five_kills_under_faults_keep_the_invariants_and_reach_the_reference(tmp_path: Path) -> None:
    summary = run_soak(
        Options(
            kills=5,
            kills_per_round=5,
            contacts=30,
            seed=5,
            fault_rate=0.2,
            hostile=12,
            min_kill_delay_s=1.5,
            max_kill_delay_s=4,
        ),
        workdir=tmp_path,
    )
    assert summary.found == [], "\n".join(summary.found)
    assert summary.kills == 5 and summary.invariant_checks == 7, summary
    assert summary.records_fuzzed >= 5 and summary.journal_entries_checked > 20, summary
    assert sum(summary.faults_served.values()) >= 5, summary.faults_served
