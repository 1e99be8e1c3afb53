"""Campaign calendar and lead engagement over simulated time.

    sim = Simulator(world)
    sim.advance(from_ms, to_ms) -> dict   # counts, e.g. {"campaigns": 2, "open": 310, "click": 41, ...}
    sim.history(now_ms, days) -> dict     # the same model over the `days` before now_ms (World's history_days)

The calendar: a newsletter every Tuesday 15:00 UTC and a product email every other Thursday 15:00 UTC
(even week numbers counted from Monday 1970-01-05). Each send asks the Mailchimp store for the members
subscribed at the send time (in a history, people who had not signed up yet or left later are told apart
by the store's own timestamps) and draws, with numpy and a generator seeded by (population seed, campaign),
who bounces, opens, clicks which link and unsubscribes. Those events are dated within 3 days after the send
and reported to the stores only once simulated time reaches them, so nothing is ever dated in the future; a persona who
unsubscribed or bounced hard before a send is not among its recipients. Engaged CRM contacts sometimes
submit a form (only once their CRM record exists: a history reaches back before some createdates); every
simulated midnight, interest takes one step of a bounded random walk plus the
persona's own drift.

Determinism: the same seed, store state and advance calls give the same store calls in the same order.
Time is processed in order (day steps, sends, due events), and advance() continues from where the
previous call stopped, so splitting a period into more calls does not change what happens in it.

History: `history(now_ms, days)` is `advance(now_ms - days, now_ms - 1)`, run when the world is built: the
same calendar, reactions and day steps, with every reported event strictly before now. Reactions due at or
after now stay queued, and the next advance (POST /_sandbox/clock) continues from there.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from sandbox.mailchimp import activity as mc_activity
from sandbox.timefmt import DAY_MS

HOUR_MS = 3_600_000
WEEK_MS = 7 * DAY_MS
MONDAY_0 = 4 * DAY_MS  # 1970-01-05T00:00Z, a Monday: week 0 of the calendar
SEND_HOUR_MS = 15 * HOUR_MS  # campaigns go out at 15:00 UTC
ACTIVITY_WINDOW_MS = 3 * DAY_MS  # every reaction is dated within 3 days after the send
SITE = "https://www.example-saas.com"
LINK_KINDS = ("pricing", "demo", "blog", "case-studies", "careers")
FORMS = ("Contact us", "Demo request", "Webinar registration")
PRODUCT_SUBJECTS = (
    "New: lead scores that explain themselves",
    "Introducing two-way Mailchimp sync",
    "Owner alerts: know when a lead goes hot",
    "What's new in Example SaaS this month",
    "Customer story: how Northwind doubled its demo rate",
)

NEWSLETTER, PRODUCT = 0, 1
# event kinds, in the order they are reported when two share a timestamp
BOUNCE_HARD, BOUNCE_SOFT, OPEN, CLICK, UNSUBSCRIBE, FORM = range(6)

# Reaction rates per recipient of a campaign, with the persona's interest i in [0, 1] (~0.36 on average as
# drawn). Yardstick: Mailchimp's published averages over all its accounts (October 2019): unique opens 22.71%
# and clicks 2.91% of delivered emails, hard bounces 0.40%, soft bounces 0.61%, unsubscribes 0.25%.
HARD_BOUNCE_RATE, SOFT_BOUNCE_RATE = 0.002, 0.003  # ~0.5%: below average, a list mailed weekly stays clean
OPEN_BASE, OPEN_PER_INTEREST = 0.05, 0.6  # unique opens ~27% of delivered
CLICK_BASE, CLICK_PER_INTEREST = 0.03, 0.2  # of openers (click-to-open ~13%): clicks ~3.3% of delivered
SECOND_CLICK_BASE, SECOND_CLICK_PER_INTEREST = 0.1, 0.2  # of clickers, a second link
REOPEN_BASE, REOPEN_PER_INTEREST = 0.2, 0.6  # further opens per opener (Poisson): total ~1.5 x unique
UNSUB_BASE, UNSUB_PER_DISINTEREST = 0.001, 0.005  # x (1 - i)^2: ~0.3%, right after an open
WEBINAR_DAILY_RATE = 0.002  # per day, per warm CRM contact (interest > 0.6)
FORM_AFTER_CLICK_RATE = 0.12  # pricing/demo clickers who then fill in a form
WALK_STEP = 0.01  # daily random-walk step of interest
# Interest drifts with the persona's trend but is pulled back toward where it stood when the simulation
# began (a 45-day memory): a trend of d a day settles at d x 45 (+-0.27 for the fifths that warm or cool)
# instead of pinning them at 0 or 1 over a long history.
INTEREST_MEMORY_DAYS = 45

_EVENT = np.dtype(
    [("ts", "i8"), ("seq", "i8"), ("kind", "u1"), ("persona", "i8"), ("slot", "i4"), ("arg", "i2")]
)  # arg: link index for clicks, form index for forms
# the Mailchimp store's action and bounce type for each event kind (FORM goes to HubSpot)
_ACTION = np.array(
    [mc_activity.BOUNCE, mc_activity.BOUNCE, mc_activity.OPEN, mc_activity.CLICK, mc_activity.UNSUBSCRIBE, -1],
    dtype=np.int8,
)
_BOUNCE = np.array([mc_activity.BOUNCE_TYPES["hard"], mc_activity.BOUNCE_TYPES["soft"], 0, 0, 0, 0], dtype=np.int8)


@dataclass(frozen=True)
class Campaign:
    kind: int  # NEWSLETTER | PRODUCT
    week: int  # calendar week number (from MONDAY_0)
    send_ms: int
    subject: str
    links: tuple[str, ...]
    link_kinds: tuple[int, ...]  # index into LINK_KINDS of each link
    id: str = ""  # the Mailchimp campaign id, known once sent


def campaigns_between(seed: int, lo_ms: int, hi_ms: int) -> list[Campaign]:
    """The calendar's campaigns with lo_ms < send time <= hi_ms, in send order (ids not yet assigned)."""
    first_week = max(0, (lo_ms - MONDAY_0) // WEEK_MS)
    found = []
    for week in range(first_week, (hi_ms - MONDAY_0) // WEEK_MS + 1):
        monday = MONDAY_0 + week * WEEK_MS
        slots = [(NEWSLETTER, monday + DAY_MS + SEND_HOUR_MS)]
        if week % 2 == 0:
            slots.append((PRODUCT, monday + 3 * DAY_MS + SEND_HOUR_MS))
        for kind, send_ms in slots:
            if lo_ms < send_ms <= hi_ms:
                found.append(_plan(seed, kind, week, send_ms))
    return found


def _plan(seed: int, kind: int, week: int, send_ms: int) -> Campaign:
    rng = np.random.default_rng(np.random.SeedSequence([seed & 0xFFFF_FFFF_FFFF_FFFF, 0xCA, kind, week]))
    if kind == NEWSLETTER:
        day = datetime.fromtimestamp(send_ms / 1000, tz=UTC)
        subject = f"The Growth Brief: {day:%B} {day.day}, {day.year}"
        required = [LINK_KINDS.index("blog")]
    else:
        subject = PRODUCT_SUBJECTS[(week // 2) % len(PRODUCT_SUBJECTS)]
        required = [LINK_KINDS.index("pricing"), LINK_KINDS.index("demo")]
    others = [k for k in range(len(LINK_KINDS)) if k not in required]
    count = int(rng.integers(3, 6))  # 3..5 links
    extra = rng.choice(others, size=count - len(required), replace=False).tolist()
    kinds = tuple(sorted(required + extra))
    return Campaign(kind, week, send_ms, subject, tuple(f"{SITE}/{LINK_KINDS[k]}" for k in kinds), kinds)


class Simulator:
    """Drives engagement in `world.mailchimp` / `world.hubspot` from `world.population` over time.

    Uses, on the stores: mailchimp.add_campaign(send_time_ms, subject, links) -> id,
    mailchimp.subscribed_persona_indices(at_ms) (the members subscribed at that instant: slots, which are
    persona indices), mailchimp.record_activity(campaign_ids, campaign, slots, ts, action, link, bounce) ->
    recorded mask (a batch of opens, clicks, bounces and unsubscribes, in time order),
    hubspot.record_conversion(email, form, ts). A row Mailchimp did not record, or a form whose contact
    HubSpot does not know (KeyError: the address changed or the contact was merged), counts as "skipped".
    """

    def __init__(self, world: Any) -> None:
        self.world = world
        self.campaigns: list[Campaign] = []  # sent so far, in order
        self._done_ms: int | None = None
        self._day: int | None = None  # last simulated day whose midnight step was applied
        self._pending: list[np.ndarray] = []  # event batches, each sorted by (ts, seq)
        self._anchor: np.ndarray | None = None  # interest at the first day step, which interest returns to
        self._seq = 0

    # -- the public step ------------------------------------------------------------------------
    def advance(self, from_ms: int, to_ms: int) -> dict[str, int]:
        """Simulate (from_ms, to_ms] (on later calls: from the end of the previous call to to_ms).

        Returns counts of what reached the stores: campaigns, open, click, bounce, unsubscribe,
        form_submission, and skipped (events a store refused). Raises ValueError if to_ms < from_ms.
        """
        if to_ms < from_ms:
            raise ValueError("to_ms must not be before from_ms")
        lo = int(from_ms) if self._done_ms is None else self._done_ms
        counts: Counter[str] = Counter(
            {k: 0 for k in ("campaigns", "open", "click", "bounce", "unsubscribe", "form_submission", "skipped")}
        )
        if to_ms <= lo:
            return dict(counts)
        if self._day is None:
            self._day = lo // DAY_MS
        for at, step in self._timeline(lo, int(to_ms)):
            self._flush(at - 1, counts)
            if isinstance(step, Campaign):
                self._send(step, counts)
            else:
                self._new_day(step)
        self._flush(int(to_ms), counts)
        self._done_ms = int(to_ms)
        return dict(counts)

    def history(self, now_ms: int, days: float) -> dict[str, int]:
        """Simulate the `days` before now_ms, reporting only events dated before it (the world's past).

        Must be the first call; later advance() calls continue the same calendar. Returns advance()'s counts.
        """
        if self._done_ms is not None:
            raise RuntimeError("history comes before any advance")
        return self.advance(int(now_ms) - int(days * DAY_MS), int(now_ms) - 1)

    def _timeline(self, lo: int, hi: int) -> list[tuple[int, int | Campaign]]:
        """Midnights (as day numbers) and sends in (lo, hi], in time order; a midnight before a send."""
        assert self._day is not None
        steps: list[tuple[int, int | Campaign]] = [(d * DAY_MS, d) for d in range(self._day + 1, hi // DAY_MS + 1)]
        steps += [(c.send_ms, c) for c in campaigns_between(self.world.population.seed, lo, hi)]
        steps.sort(key=lambda s: (s[0], isinstance(s[1], Campaign)))
        return steps

    # -- days -----------------------------------------------------------------------------------
    def _new_day(self, day: int) -> None:
        """Midnight of `day`: one drift step of interest, and the day's webinar registrations."""
        pop = self.world.population
        if self._anchor is None:
            self._anchor = pop.interest.copy()
        rng = pop.rng(0xDA, day)
        walk = rng.normal(0.0, WALK_STEP, pop.n).astype(np.float32)
        pull = (self._anchor - pop.interest) / np.float32(INTEREST_MEMORY_DAYS)
        np.clip(pop.interest + pop.drift + walk + pull, 0.0, 1.0, out=pop.interest)
        contacts = np.asarray(pop.hubspot_indices, dtype=np.int64)
        warm = contacts[pop.interest[contacts] > 0.6]
        who = warm[rng.random(len(warm)) < WEBINAR_DAILY_RATE]
        ts = day * DAY_MS + rng.integers(0, DAY_MS, len(who))
        known = pop.timestamps("created")[who] <= ts  # in a history: only contacts that exist by then
        who, ts = who[known], ts[known]
        self._queue(ts, FORM, who, -1, np.full(len(who), FORMS.index("Webinar registration")))
        self._day = day

    # -- campaigns ------------------------------------------------------------------------------
    def _send(self, plan: Campaign, counts: Counter[str]) -> None:
        world, pop = self.world, self.world.population
        cid = world.mailchimp.add_campaign(plan.send_ms, plan.subject, list(plan.links))
        campaign = Campaign(plan.kind, plan.week, plan.send_ms, plan.subject, plan.links, plan.link_kinds, cid)
        slot = len(self.campaigns)
        self.campaigns.append(campaign)
        counts["campaigns"] += 1
        recipients = np.asarray(world.mailchimp.subscribed_persona_indices(plan.send_ms), dtype=np.int64)  # sorted
        recipients = recipients[(recipients >= 0) & (recipients < pop.n)]
        rng = pop.rng(0xC4, plan.kind, plan.week)
        self._react(rng, campaign, slot, recipients)

    def _react(self, rng: np.random.Generator, c: Campaign, slot: int, who: np.ndarray) -> None:
        """Draw every recipient's reaction to campaign `c` and queue the events."""
        pop, m = self.world.population, len(who)
        interest = pop.interest[who].astype(np.float64)
        fit = pop.fit()[who]
        u = rng.random(m)
        hard = u < HARD_BOUNCE_RATE
        soft = (u >= HARD_BOUNCE_RATE) & (u < HARD_BOUNCE_RATE + SOFT_BOUNCE_RATE)
        delivered = ~(hard | soft)
        # unsubscribing is rarer among the interested (~0.3% overall); it comes right after an open
        unsub = delivered & (rng.random(m) < UNSUB_BASE + UNSUB_PER_DISINTEREST * (1.0 - interest) ** 2)
        opened = delivered & ((rng.random(m) < OPEN_BASE + OPEN_PER_INTEREST * interest) | unsub)
        clicked = opened & ~unsub & (rng.random(m) < CLICK_BASE + CLICK_PER_INTEREST * interest)
        twice = clicked & (rng.random(m) < SECOND_CLICK_BASE + SECOND_CLICK_PER_INTEREST * interest)

        bounce_ts = c.send_ms + rng.integers(5_000, 15 * 60_000, m)
        open_ts = c.send_ms + 1_000 + np.minimum(rng.exponential(6 * HOUR_MS, m), ACTIVITY_WINDOW_MS / 2)
        open_ts = open_ts.astype(np.int64)
        click_ts = open_ts + np.minimum(rng.exponential(3 * 60_000, m), HOUR_MS).astype(np.int64) + 1_000
        second_ts = click_ts + rng.integers(10_000, 20 * 60_000, m)
        unsub_ts = open_ts + rng.integers(30_000, 10 * 60_000, m)

        weights = self._link_weights(c, interest, fit)
        first_link = _pick(rng, weights)
        second_link = _pick(rng, weights)
        self._queue(bounce_ts[hard], BOUNCE_HARD, who[hard], slot, np.full(int(hard.sum()), -1))
        self._queue(bounce_ts[soft], BOUNCE_SOFT, who[soft], slot, np.full(int(soft.sum()), -1))
        self._queue(open_ts[opened], OPEN, who[opened], slot, np.full(int(opened.sum()), -1))
        self._queue(click_ts[clicked], CLICK, who[clicked], slot, first_link[clicked])
        self._queue(second_ts[twice], CLICK, who[twice], slot, second_link[twice])
        self._queue(unsub_ts[unsub], UNSUBSCRIBE, who[unsub], slot, np.full(int(unsub.sum()), -1))
        self._queue_forms(rng, c, who, clicked, click_ts, first_link)
        # openers (who stay subscribed) open again, later within the activity window: Mailchimp's `opens`
        # counts every open, `unique_opens` the openers
        again = np.where(opened & ~unsub, rng.poisson(REOPEN_BASE + REOPEN_PER_INTEREST * interest), 0)
        reopen_ts = (
            np.repeat(open_ts, again) + 60_000 + rng.exponential(10 * HOUR_MS, int(again.sum())).astype(np.int64)
        )
        reopen_ts = np.minimum(reopen_ts, c.send_ms + ACTIVITY_WINDOW_MS)
        self._queue(reopen_ts, OPEN, np.repeat(who, again), slot, np.full(int(again.sum()), -1))

    def _link_weights(self, c: Campaign, interest: np.ndarray, fit: np.ndarray) -> np.ndarray:
        """(recipients x links) click weights: buyers go to pricing/demo, poor fits to careers."""
        warm = interest**2 * fit
        by_kind = {
            "pricing": 0.2 + 2.0 * warm,
            "demo": 0.1 + 1.8 * warm,
            "blog": np.full_like(interest, 1.0),
            "case-studies": 0.4 + 0.6 * fit,
            "careers": 0.05 + 1.5 * (1.0 - fit) * (1.0 - interest),
        }
        return np.column_stack([by_kind[LINK_KINDS[k]] for k in c.link_kinds])

    def _queue_forms(
        self,
        rng: np.random.Generator,
        c: Campaign,
        who: np.ndarray,
        clicked: np.ndarray,
        click_ts: np.ndarray,
        link: np.ndarray,
    ) -> None:
        """Some CRM contacts who clicked pricing or demo then ask for a demo or write to sales."""
        pop = self.world.population
        kinds = np.asarray(c.link_kinds)[np.maximum(link, 0)]
        buying = clicked & np.isin(kinds, [LINK_KINDS.index("pricing"), LINK_KINDS.index("demo")])
        in_crm = np.isin(who, np.asarray(pop.hubspot_indices, dtype=np.int64))
        submits = buying & in_crm & (rng.random(len(who)) < FORM_AFTER_CLICK_RATE)
        form = np.where(kinds == LINK_KINDS.index("demo"), FORMS.index("Demo request"), FORMS.index("Contact us"))
        ts = click_ts + rng.integers(60_000, 20 * 60_000, len(who))
        submits &= pop.timestamps("created")[who] <= ts  # in a history: only contacts that exist by then
        self._queue(ts[submits], FORM, who[submits], -1, form[submits])

    # -- the event queue ------------------------------------------------------------------------
    def _queue(self, ts: np.ndarray, kind: int, who: np.ndarray, slot: int, arg: np.ndarray) -> None:
        if len(who) == 0:
            return
        batch = np.empty(len(who), dtype=_EVENT)
        batch["ts"], batch["kind"], batch["persona"], batch["slot"], batch["arg"] = ts, kind, who, slot, arg
        batch["seq"] = np.arange(self._seq, self._seq + len(who))
        self._seq += len(who)
        self._pending.append(batch[np.lexsort((batch["seq"], batch["ts"]))])

    def _flush(self, upto_ms: int, counts: Counter[str]) -> None:
        """Report every queued event dated at or before upto_ms, in (ts, kind, seq) order: the campaign
        events to Mailchimp as one batch, then the form submissions to HubSpot one by one."""
        due, keep = [], []
        for batch in self._pending:
            k = int(np.searchsorted(batch["ts"], upto_ms, side="right"))
            if k:
                due.append(batch[:k])
            if k < len(batch):
                keep.append(batch[k:])
        self._pending = keep
        if not due:
            return
        events = np.concatenate(due)
        events = events[np.lexsort((events["seq"], events["kind"], events["ts"]))]
        forms = events["kind"] == FORM
        mail = events[~forms]
        if len(mail):
            kind = mail["kind"]
            recorded = self.world.mailchimp.record_activity(
                [c.id for c in self.campaigns],
                mail["slot"],
                mail["persona"],
                mail["ts"],
                _ACTION[kind],
                np.where(kind == CLICK, mail["arg"], -1),
                _BOUNCE[kind],
            )
            for code, name in ((OPEN, "open"), (CLICK, "click"), (UNSUBSCRIBE, "unsubscribe")):
                counts[name] += int(np.count_nonzero(recorded & (kind == code)))
            counts["bounce"] += int(np.count_nonzero(recorded & ((kind == BOUNCE_HARD) | (kind == BOUNCE_SOFT))))
            counts["skipped"] += int(np.count_nonzero(~recorded))
        pop, hubspot = self.world.population, self.world.hubspot
        for ts, _, _, persona, _, arg in events[forms].tolist():
            try:
                hubspot.record_conversion(pop.email(persona), FORMS[arg], ts)
                counts["form_submission"] += 1
            except KeyError:  # the contact's address changed, or it was merged away
                counts["skipped"] += 1


def _pick(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One column index per row, drawn with probability proportional to that row's weights."""
    cum = np.cumsum(weights, axis=1)
    u = rng.random(len(weights)) * cum[:, -1] if len(weights) else np.empty(0)
    return np.minimum((cum < u[:, None]).sum(axis=1), weights.shape[1] - 1).astype(np.int16)
