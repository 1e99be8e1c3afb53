"""The campaign simulation, driven against small recording fakes of the two stores."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from sandbox.mailchimp.activity import BOUNCE, BOUNCE_TYPES, CLICK, OPEN, UNSUBSCRIBE
from sandbox.population import Population
from sandbox.simulation import ACTIVITY_WINDOW_MS, FORMS, LINK_KINDS, SITE, Simulator, campaigns_between
from sandbox.timefmt import DAY_MS

START = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a Thursday


class FakeMailchimp:
    """Members by persona index with their status; records every call the simulator makes."""

    def __init__(self, pop: Population) -> None:
        self.pop = pop
        self.status = {int(i): pop.persona(int(i)).mc_status for i in pop.mailchimp_indices}
        self.by_email = {pop.mc_email(i).lower(): i for i in self.status}
        self.calls: list[tuple] = []
        self.campaigns: dict[str, tuple[int, str, list[str]]] = {}

    def add_campaign(self, send_time_ms: int, subject: str, links: list[str]) -> str:
        cid = f"c{len(self.campaigns):04d}"
        self.campaigns[cid] = (send_time_ms, subject, links)
        return cid

    def subscribed_persona_indices(self, at_ms: int | None = None) -> np.ndarray:
        return np.array(sorted(i for i, s in self.status.items() if s == "subscribed"), dtype=np.int64)

    def record_activity(
        self,
        cids: list[str],
        campaign: np.ndarray,
        slots: np.ndarray,
        ts: np.ndarray,
        action: np.ndarray,
        link: np.ndarray,
        bounce: np.ndarray,
    ) -> np.ndarray:
        """One call per row, as the real store records them; a member whose address is unknown is not."""
        recorded = np.zeros(len(slots), dtype=bool)
        for k, (c, i, t, a, u, b) in enumerate(
            zip(campaign.tolist(), slots.tolist(), ts.tolist(), action.tolist(), link.tolist(), bounce.tolist())
        ):
            if self.by_email.get(self.pop.mc_email(i).lower()) != i:
                continue
            cid = cids[c]
            recorded[k] = True
            if a == OPEN:
                self.calls.append(("open", i, cid, t))
            elif a == CLICK:
                self.calls.append(("click", i, cid, t, self.campaigns[cid][2][u]))
            elif a == BOUNCE:
                self.calls.append(("bounce", i, cid, t, "hard" if b == BOUNCE_TYPES["hard"] else "soft"))
                if b == BOUNCE_TYPES["hard"]:
                    self.status[i] = "cleaned"
            else:
                assert a == UNSUBSCRIBE
                self.calls.append(("unsubscribe", i, cid, t))
                self.status[i] = "unsubscribed"
        return recorded


class FakeHubSpot:
    def __init__(self, pop: Population) -> None:
        self.by_email = {pop.email(int(i)).lower(): int(i) for i in pop.hubspot_indices}
        self.calls: list[tuple] = []

    def record_conversion(self, email: str, form: str, ts: int) -> None:
        self.calls.append(("form", self.by_email[email.lower()], form, ts))


@dataclass
class FakeWorld:
    population: Population
    mailchimp: Any = field(init=False)
    hubspot: Any = field(init=False)

    def __post_init__(self) -> None:
        self.mailchimp = FakeMailchimp(self.population)
        self.hubspot = FakeHubSpot(self.population)


def world(n: int = 3000, seed: int = 5) -> FakeWorld:
    return FakeWorld(Population(n, seed=seed, start_ms=START))


def run(w: FakeWorld, days: float, steps: int = 1) -> tuple[Simulator, Counter]:
    sim, total = Simulator(w), Counter()
    edges = np.linspace(START, START + days * DAY_MS, steps + 1).astype(np.int64)
    for lo, hi in zip(edges[:-1], edges[1:]):
        total.update(sim.advance(int(lo), int(hi)))
    return sim, total


def test_calendar_tuesday_newsletters_and_alternate_thursdays() -> None:
    plans = campaigns_between(5, START, START + 28 * DAY_MS)
    days = Counter(datetime.fromtimestamp(c.send_ms / 1000, tz=UTC).strftime("%a %H:%M") for c in plans)
    assert days == {"Tue 15:00": 4, "Thu 15:00": 2}
    for c in plans:
        assert 3 <= len(c.links) <= 5 and len(set(c.links)) == len(c.links)
        assert all(url.startswith(SITE + "/") and url.rsplit("/", 1)[1] in LINK_KINDS for url in c.links)
    assert campaigns_between(5, START, START + 28 * DAY_MS) == plans


def test_same_seed_and_calls_give_the_same_events() -> None:
    a, b = world(), world()
    run(a, 21)
    run(b, 21)
    assert a.mailchimp.calls and a.mailchimp.calls == b.mailchimp.calls
    assert a.hubspot.calls == b.hubspot.calls
    assert np.array_equal(a.population.interest, b.population.interest)


def test_splitting_the_period_into_more_calls_changes_nothing() -> None:
    a, b = world(), world()
    run(a, 21, steps=1)
    run(b, 21, steps=17)
    assert a.mailchimp.calls == b.mailchimp.calls and a.hubspot.calls == b.hubspot.calls


def test_different_seed_gives_different_events() -> None:
    a, b = world(seed=5), world(seed=6)
    run(a, 14)
    run(b, 14)
    assert a.mailchimp.calls != b.mailchimp.calls


def test_counts_and_rates_are_plausible() -> None:
    w = world(n=6000)
    sim, counts = run(w, 28)
    assert counts["campaigns"] == 6 == len(w.mailchimp.campaigns)
    kinds = Counter(c[0] for c in w.mailchimp.calls)
    assert counts["open"] == kinds["open"] and counts["click"] == kinds["click"]
    sends = 6 * len(w.mailchimp.subscribed_persona_indices())
    assert 0.15 < kinds["open"] / sends < 0.45
    assert 0.0015 < kinds["bounce"] / sends < 0.01
    assert 0.001 < kinds["unsubscribe"] / sends < 0.008
    assert 0 < kinds["click"] < kinds["open"]
    assert counts["form_submission"] == len(w.hubspot.calls) > 0
    assert {c[2] for c in w.hubspot.calls} <= set(FORMS)


def test_events_fall_within_three_days_of_their_send_and_never_in_the_future() -> None:
    w = world()
    end = START + 10 * DAY_MS
    run(w, 10)
    for call in w.mailchimp.calls:
        send_ms = w.mailchimp.campaigns[call[2]][0]
        assert send_ms < call[3] <= min(send_ms + ACTIVITY_WINDOW_MS, end)
    times = [c[3] for c in w.mailchimp.calls]
    assert times == sorted(times)


def test_clicks_use_the_campaign_links() -> None:
    w = world()
    run(w, 14)
    clicks = [c for c in w.mailchimp.calls if c[0] == "click"]
    assert clicks and all(c[4] in w.mailchimp.campaigns[c[2]][2] for c in clicks)


def test_high_interest_engages_more_than_low_interest_over_weeks() -> None:
    w = world(n=4000)
    pop, members = w.population, w.mailchimp.subscribed_persona_indices()
    hot, cold = members[::2], members[1::2]
    pop.interest[hot], pop.interest[cold] = 0.9, 0.1
    pop.drift[:] = 0.0
    run(w, 42)
    hot_set = set(hot.tolist())
    per = Counter((c[0], c[1] in hot_set) for c in w.mailchimp.calls)
    assert per["open", True] > 3 * per["open", False]
    assert per["click", True] > 5 * per["click", False]
    pricing = Counter(
        c[4].endswith(("/pricing", "/demo")) for c in w.mailchimp.calls if c[0] == "click" and c[1] in hot_set
    )
    assert pricing[True] > pricing[False] * 0.5


def test_unsubscribed_and_cleaned_members_receive_nothing_afterwards() -> None:
    w = world(n=5000)
    run(w, 56)
    gone: dict[int, int] = {}
    for call in w.mailchimp.calls:
        if call[0] == "unsubscribe" or (call[0] == "bounce" and call[4] == "hard"):
            gone.setdefault(call[1], call[3])
    assert len(gone) > 10
    for call in w.mailchimp.calls:
        send_ms = w.mailchimp.campaigns[call[2]][0]
        if call[1] in gone:
            assert send_ms < gone[call[1]], f"persona {call[1]} got a campaign after leaving"
    initially_out = {int(i) for i in w.population.mailchimp_indices_with_status("unsubscribed")}
    assert not initially_out & {c[1] for c in w.mailchimp.calls}


def test_interest_drifts_within_bounds_and_follows_the_persona_drift() -> None:
    w = world(n=4000)
    pop = w.population
    before = pop.interest.copy()
    pop.interest[:] = 0.5
    pop.drift[:2000], pop.drift[2000:] = 0.01, -0.01
    run(w, 20)
    assert not np.array_equal(before, pop.interest)
    assert pop.interest.min() >= 0.0 and pop.interest.max() <= 1.0
    assert pop.interest[:2000].mean() > 0.6 > 0.4 > pop.interest[2000:].mean()


def test_unknown_addresses_are_skipped_not_fatal() -> None:
    w = world()
    w.mailchimp.by_email = {}  # every address "changed" through the API
    _, counts = run(w, 7)
    assert counts["skipped"] > 0 and counts["open"] == 0


def test_advance_rejects_backwards_and_ignores_repeats() -> None:
    w = world()
    sim = Simulator(w)
    with pytest.raises(ValueError):
        sim.advance(START + 10, START)
    first = sim.advance(START, START + 7 * DAY_MS)
    again = sim.advance(START, START + 7 * DAY_MS)
    due = campaigns_between(w.population.seed, START, START + 7 * DAY_MS)
    assert first["campaigns"] == len(due) >= 1 and first["open"] > 0
    assert again["campaigns"] == 0 and again["open"] == 0


def test_poor_fits_click_careers_and_buyers_click_pricing() -> None:
    w = world(n=6000)
    run(w, 56)
    fit = w.population.fit()
    clicks = [(fit[c[1]] < 0.35, c[4].rsplit("/", 1)[1]) for c in w.mailchimp.calls if c[0] == "click"]
    low = Counter(kind for poor, kind in clicks if poor)
    high = Counter(kind for poor, kind in clicks if not poor)
    assert low["careers"] / sum(low.values()) > 2 * high["careers"] / sum(high.values())
    assert high["pricing"] / sum(high.values()) > low["pricing"] / sum(low.values())


def test_runs_against_the_real_stores_deterministically() -> None:
    from sandbox.world import SandboxConfig, World

    def simulate() -> tuple[list, dict, dict]:
        w = World(SandboxConfig(contacts=1500, seed=9, start_ms=START))
        generated = w.advance_days(15)["generated"]
        summaries = [
            (c["id"], c["settings"]["subject_line"], c["emails_sent"], c["report_summary"])
            for c in w.mailchimp.state()["campaigns"]
        ]
        return summaries, w.mailchimp.status_counts(), generated

    first, second = simulate(), simulate()
    assert first == second
    summaries, statuses, generated = first
    assert generated["campaigns"] == len(summaries) >= 2 and generated["skipped"] == 0
    assert all(s[3]["opens"] > 0 for s in summaries)
    assert statuses["unsubscribed"] + statuses["cleaned"] > 0
