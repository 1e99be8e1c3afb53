"""A world's history (SandboxConfig.history_days): the clock's own model run over the days before "now"."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from sandbox.mailchimp.activity import BOUNCE, BOUNCE_TYPES, CLICK, OPEN
from sandbox.population import MC_STATUSES
from sandbox.simulation import ACTIVITY_WINDOW_MS, campaigns_between
from sandbox.timefmt import DAY_MS, parse_ts_ms
from sandbox.world import SandboxConfig, World

START = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a Thursday: "now" when the world is built
DAYS = 63
HARD = BOUNCE_TYPES["hard"]


def build(days: float = DAYS, seed: int = 21, contacts: int = 3000) -> World:
    return World(SandboxConfig(contacts=contacts, seed=seed, start_ms=START, history_days=days))


@pytest.fixture(scope="module")
def world() -> World:
    return build()


def summary(w: World) -> list[tuple]:
    """Everything the campaigns show, plus every event column."""
    out = []
    for c in w.mailchimp.campaigns:
        d = w.mailchimp.campaign_dict(c)
        cols = c.columns()
        out.append(
            (
                d["id"],
                d["send_time"],
                d["emails_sent"],
                d["report_summary"],
                c.unsubscribes,
                *(cols[k].tolist() for k in ("slot", "ts_ms", "action", "url", "bounce")),
            )
        )
    return out


def leaving_events(w: World) -> dict[int, list[tuple[int, str]]]:
    """slot -> [(time, "unsubscribed" | "cleaned")] from every campaign's unsubscribes and hard bounces."""
    left: dict[int, list[tuple[int, str]]] = {}
    for c in w.mailchimp.campaigns:
        cols = c.columns()
        hard = (cols["action"] == BOUNCE) & (cols["bounce"] == HARD)
        for slot, ts in zip(cols["slot"][hard].tolist(), cols["ts_ms"][hard].tolist()):
            left.setdefault(slot, []).append((ts, "cleaned"))
        for slot, ts, _ in c.unsubscribes:
            left.setdefault(slot, []).append((ts, "unsubscribed"))
    return {slot: sorted(events) for slot, events in left.items()}


# -- the calendar and the clock -----------------------------------------------------------------------
def test_campaigns_follow_the_calendar_before_now(world):
    sent = world.mailchimp.campaigns
    planned = campaigns_between(world.population.seed, START - DAYS * DAY_MS, START - 1)
    assert [c.send_ms for c in sent] == [p.send_ms for p in planned] and len(sent) == 14  # 9 weeks: 9 + 5
    assert [c.subject for c in sent] == [p.subject for p in planned]
    days = {datetime.fromtimestamp(c.send_ms / 1000, tz=UTC).strftime("%a %H:%M") for c in sent}
    assert days == {"Tue 15:00", "Thu 15:00"}
    assert all(START - DAYS * DAY_MS < c.send_ms < START for c in sent)
    assert world.clock.now_ms() >= START and world.history["campaigns"] == len(sent)


def test_no_event_at_or_after_now_and_each_within_its_window(world):
    for c in world.mailchimp.campaigns:
        ts = c.columns()["ts_ms"]
        assert ts.size and ts.max() < START and ts.min() > c.send_ms
        assert ts.max() <= c.send_ms + ACTIVITY_WINDOW_MS
        assert all(c.send_ms < t < START for _, t, _ in c.unsubscribes)
    changed = world.mailchimp._columns(times=True).view("changed")
    assert changed.max() <= START  # the population draws last_changed up to "now"; events are before it
    for rec in world.hubspot.contacts.rows.values():
        assert parse_ts_ms(rec.props["recent_conversion_date"]) < START
        assert rec.updated_ms < START and parse_ts_ms(rec.props["lastmodifieddate"]) < START


def test_zero_days_is_todays_empty_start():
    empty, default = build(days=0), World(SandboxConfig(contacts=3000, seed=21, start_ms=START))
    for w in (empty, default):
        assert w.mailchimp.campaigns == [] and w.history == {} and w.hubspot.contacts.rows == {}
        assert w.mailchimp.status_counts() == {
            **dict.fromkeys(("pending", "transactional", "archived"), 0),
            **{s: len(w.population.mailchimp_indices_with_status(s)) for s in MC_STATUSES},
        }
    assert empty.mailchimp.state() == default.mailchimp.state()
    assert np.array_equal(empty.population.interest, default.population.interest)


def test_history_days_is_validated():
    for bad in (-1, 3651, "90", True, float("nan")):
        with pytest.raises(ValueError, match="history_days"):
            SandboxConfig(history_days=bad)


# -- determinism and volumes --------------------------------------------------------------------------
def test_same_seed_same_history_other_seed_another(world):
    again = build()
    assert summary(again) == summary(world)
    assert again.mailchimp.status_counts() == world.mailchimp.status_counts()
    assert {k: r.props for k, r in again.hubspot.contacts.rows.items()} == {
        k: r.props for k, r in world.hubspot.contacts.rows.items()
    }
    assert summary(build(seed=22)) != summary(world)


def test_volumes_are_in_the_ranges_the_rates_imply(world):
    camps, h = world.mailchimp.campaigns, world.history
    sent = sum(c.emails_sent for c in camps)
    hard, soft = sum(c.hard_bounces for c in camps), sum(c.soft_bounces for c in camps)
    delivered = sent - hard - soft
    unique_opens, unique_clicks = sum(c.unique_opens for c in camps), sum(c.unique_clicks for c in camps)
    opens, clicks = sum(c.opens for c in camps), sum(c.clicks for c in camps)
    unsubscribes = sum(len(c.unsubscribes) for c in camps)
    assert sent > 20_000
    assert 0.001 < hard / sent < 0.0035 and 0.0015 < soft / sent < 0.0045  # 0.2% and 0.3%
    assert 0.20 < unique_opens / delivered < 0.34  # 0.05 + 0.6 x interest
    assert 1.3 < opens / unique_opens < 1.7  # reopens: 0.2 + 0.6 x interest
    assert 0.02 < unique_clicks / delivered < 0.05  # of openers 0.03 + 0.2 x interest
    assert 0.09 < unique_clicks / unique_opens < 0.18
    assert 1.05 < clicks / unique_clicks < 1.4  # a second link: 0.1 + 0.2 x interest
    assert 0.0015 < unsubscribes / delivered < 0.005  # 0.001 + 0.005 x (1 - interest)^2
    # what the history reports having generated is what the campaigns and the CRM hold
    assert (h["open"], h["click"], h["bounce"], h["unsubscribe"], h["skipped"]) == (
        opens,
        clicks,
        hard + soft,
        unsubscribes,
        0,
    )
    forms = sum(int(r.props["num_conversion_events"]) for r in world.hubspot.contacts.rows.values())
    assert forms == h["form_submission"] > 20


def test_the_audience_grows_over_the_history(world):
    first, last = world.mailchimp.campaigns[0], world.mailchimp.campaigns[-1]
    signup = world.population.timestamps("mc_signup")
    newcomers = last.recipients[signup[last.recipients] > first.send_ms]
    assert len(newcomers) > 0.1 * last.emails_sent  # signups spread over the year before now
    assert not np.isin(newcomers, first.recipients).any() and first.emails_sent < 0.95 * last.emails_sent


# -- statuses and recipients agree with the events ----------------------------------------------------
def test_statuses_and_last_changed_follow_the_leaving_events(world):
    store, pop = world.mailchimp, world.population
    left = leaving_events(world)
    assert sum(s == "unsubscribed" for ev in left.values() for _, s in ev) > 20
    assert sum(s == "cleaned" for ev in left.values() for _, s in ev) > 5
    for slot, events in left.items():
        m = store.find_slot(slot)
        ts, status = events[-1]
        assert (m.status, m.last_changed_ms) == (status, ts), slot
        if status == "unsubscribed":
            assert store.member_dict(m)["unsubscribe_reason"]
    # nobody else changed: every other member has the status and last_changed the population drew
    initial = {s: set(pop.mailchimp_indices_with_status(s).tolist()) for s in MC_STATUSES}
    changed = pop.timestamps("mc_last_changed")
    for slot in pop.mailchimp_indices.tolist():
        if slot not in left:
            m = store.find_slot(slot)
            assert slot in initial[m.status] and m.last_changed_ms == int(changed[slot])


def test_recipients_are_the_members_subscribed_at_each_send(world):
    """Rebuilt from the population (signup, the status it drew and when) and the leaving events alone."""
    pop = world.population
    members = pop.mailchimp_indices
    signup = pop.timestamps("mc_signup")[members]
    never = np.iinfo(np.int64).max
    gone = pop.timestamps("mc_last_changed")[members].copy()
    gone[np.isin(members, pop.mailchimp_indices_with_status("subscribed"))] = never
    for slot, events in leaving_events(world).items():
        k = int(np.searchsorted(members, slot))
        gone[k] = min(gone[k], events[0][0])
    for c in world.mailchimp.campaigns:
        expected = members[(signup <= c.send_ms) & (gone > c.send_ms)]
        assert np.array_equal(c.recipients, expected), c.subject
        events = c.columns()
        assert np.isin(events["slot"], c.recipients).all()  # only recipients react


def test_member_stats_and_feed_agree_with_the_campaigns(world):
    store = world.mailchimp
    received, opened = {}, {}
    for c in world.mailchimp.campaigns:
        cols = c.columns()
        for s in c.recipients.tolist():
            received[s] = received.get(s, 0) + 1
        for s in set(cols["slot"][cols["action"] == OPEN].tolist()):
            opened[s] = opened.get(s, 0) + 1
    sample = sorted(opened)[:: max(1, len(opened) // 40)]
    for slot in sample:
        m = store.find_slot(slot)
        body = store.member_dict(m)
        assert body["stats"]["avg_open_rate"] == round(opened[slot] / received[slot], 4)
        total, feed = store.activity_feed(m, None, 0, 1000)
        kinds = [item["activity_type"] for item in feed]
        assert kinds.count("sent") == received[slot] and kinds.count("open") >= opened[slot]
        times = [item["created_at_timestamp"] for item in feed]
        assert times == sorted(times, reverse=True) and max(times) < "2026-01-01T00:00:00+00:00"


def test_clicks_use_links_and_forms_come_from_contacts_that_existed(world):
    for c in world.mailchimp.campaigns:
        cols = c.columns()
        clicks = cols["url"][cols["action"] == CLICK]
        assert clicks.size and ((clicks >= 0) & (clicks < len(c.links))).all()
    pop, converted = world.population, world.hubspot.contacts.rows.values()
    assert converted
    for rec in converted:
        i = int(rec.id) - 100_000
        first, recent = (
            parse_ts_ms(rec.props["first_conversion_date"]),
            parse_ts_ms(rec.props["recent_conversion_date"]),
        )
        assert pop.timestamps("created")[i] <= first <= recent < START
        assert (
            rec.props["lastmodifieddate"] == rec.props["recent_conversion_date"]
            or rec.updated_ms == int(pop.timestamps("updated")[i]) > recent
        )  # an earlier form keeps the later change


# -- the clock continues the same calendar ------------------------------------------------------------
def test_advancing_after_the_history_continues_the_calendar():
    w = build()
    before = len(w.mailchimp.campaigns)
    last = w.mailchimp.campaigns[-1]
    assert START - last.send_ms < ACTIVITY_WINDOW_MS  # Tuesday's newsletter: reactions run past "now"
    events_then = len(last.slot)
    generated = w.advance_days(14)["generated"]
    sends = [c.send_ms for c in w.mailchimp.campaigns]
    assert sends == [p.send_ms for p in campaigns_between(w.population.seed, START - DAYS * DAY_MS, w.clock.now_ms())]
    assert generated["campaigns"] == len(sends) - before == 3  # Tuesdays 6 and 13 January, one Thursday
    ts = last.columns()["ts_ms"]
    assert len(ts) > events_then and (ts[events_then:] >= START).all()  # its late opens came with the clock
    for c in w.mailchimp.campaigns[before:]:
        assert c.send_ms > START and c.columns()["ts_ms"].min() > c.send_ms


def test_history_then_advance_is_one_advance_over_both_periods():
    """The history is the clock's model, not a second one: split at "now" or not, the same stores result."""
    with_history = build(days=28)
    with_history.simulator.advance(START, START + 10 * DAY_MS)
    plain = build(days=0)
    plain.simulator.advance(START - 28 * DAY_MS, START + 10 * DAY_MS)
    assert summary(with_history) == summary(plain)
    assert with_history.mailchimp.status_counts() == plain.mailchimp.status_counts()
    assert {k: r.props for k, r in with_history.hubspot.contacts.rows.items()} == {
        k: r.props for k, r in plain.hubspot.contacts.rows.items()
    }
    assert np.array_equal(with_history.population.interest, plain.population.interest)


def test_a_bounce_before_the_drawn_cleaning_date_cleans_as_of_the_bounce():
    """The population's cleaned members left on their last_changed; a history may have them bounce earlier."""
    w = build(days=0, contacts=500)
    store, pop = w.mailchimp, w.population
    cleaned = pop.mailchimp_indices_with_status("cleaned")
    long_enough = pop.timestamps("mc_last_changed")[cleaned] - pop.timestamps("mc_signup")[cleaned] > 10 * DAY_MS
    slot = int(cleaned[long_enough][0])
    cleaned_on = int(pop.timestamps("mc_last_changed")[slot])
    cid = store.add_campaign(cleaned_on - 5 * DAY_MS, "Earlier newsletter", [])
    assert store.campaign(cid).received(slot)  # still subscribed back then
    store.record_bounce(pop.mc_email(slot), cid, cleaned_on - 5 * DAY_MS + 60_000, "hard")
    m = store.find_slot(slot)
    assert (m.status, m.last_changed_ms) == ("cleaned", cleaned_on - 5 * DAY_MS + 60_000)
    store.record_bounce(pop.mc_email(slot), cid, cleaned_on, "hard")  # a later one changes nothing
    assert store.find_slot(slot).last_changed_ms == cleaned_on - 5 * DAY_MS + 60_000
