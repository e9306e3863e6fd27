"""The full-link metrics: each one's formula, as SQL over summed rollup columns and as prose.

The prose (:data:`METRICS_DOC`) is what the API description and the docs show; the SQL is what
the reports compute. Money is in minor units (fen). Every ratio is NULL when its denominator is 0.
"""

from __future__ import annotations

from typing import Final

#: Front-link counts summed from ``rollup_note_day``.
FRONT_COUNTS: Final = (
    "impressions", "reads", "deep_reads", "likes", "comments", "collects", "shares", "follows",
    "link_clicks", "unique_readers", "true_interest_readers", "spend",
)

#: Credited back-link counts summed from ``rollup_credit_day``, by action.
ACTION_COLUMNS: Final[dict[str, str]] = {
    "visit": "visits", "search": "searches", "favorite": "favorites", "cart": "carts",
    "order": "orders", "refund": "refunds",
}

#: Actions credited negatively by attribution (DESIGN §5 rule 3); reports show their counts as positive.
NEGATIVE_ACTIONS: Final = ("refund",)

#: Actions whose credited amount makes GMV (refund amounts are credited negative).
GMV_ACTIONS: Final = ("order", "refund")

#: name -> (SQL over the summed columns, formula as documented)
METRICS: Final[dict[str, tuple[str, str]]] = {
    "ctr": ("reads / nullif(impressions, 0)", "CTR = reads / impressions"),
    "interaction_rate": (
        "(likes + comments + collects + shares) / nullif(reads, 0)",
        "interaction rate = (likes + comments + collects + shares) / reads",
    ),
    "link_ctr": ("link_clicks / nullif(reads, 0)", "link CTR = link clicks / reads"),
    "visit_rate": ("visits / nullif(reads, 0)", "进店率 (visit rate) = credited visits / reads"),
    "cart_rate": ("carts / nullif(visits, 0)", "加购率 (cart rate) = credited carts / credited visits"),
    "conversion_rate": ("orders / nullif(visits, 0)", "conversion rate = credited orders / credited visits"),
    "roi": (
        "gmv / nullif(spend, 0)",
        "ROI = credited GMV / spend; with lookback=x it is ROI(T+x): only credit with lag <= x days "
        "(lag day = floor(lag seconds / 86400))",
    ),
    "cost_per_visit": ("spend / nullif(visits, 0)", "cost per visit = spend / credited visits"),
    "cost_per_cart": ("spend / nullif(carts, 0)", "cost per cart = spend / credited carts"),
    "cost_per_order": ("spend / nullif(orders, 0)", "cost per order = spend / credited orders"),
    "seeding_value_per_1k_reads": (
        "seeding_value * 1000.0 / nullif(reads, 0)", "种草值 per 1,000 reads = seeding value x 1000 / reads",
    ),
}

METRICS_DOC: Final = """\
**Counts.** Front-link counts exclude bots and duplicate events. A *deep read* is a `deep_read` event or a
read with dwell >= 5 s (image) or >= 50 % watched (video). *True-interest readers* are distinct users with
a deep read or a deep interaction (like, comment, collect, share, follow). *Unique readers* are distinct
per note and UTC day, summed over days. Credited back-link counts (visits, searches, favorites, carts,
orders, refunds) are sums of `credit x weight` under the chosen attribution `model` (refunds, credited
negatively, are shown as positive counts), where
`weight = 1 / sample_rate`; each carries a 95 % interval `[low, high]` from the Horvitz-Thompson variance
`sum w (w - 1) x^2` (x summed per back-link event). Credit is dated by the back-link event's UTC day.

**Money** is in minor units (fen). *GMV* = credited order amounts minus credited refund amounts.
*Spend* comes from the campaign's bid: CPM campaigns cost `bid_price / 1000` per impression, CPC
campaigns `bid_price` per (non-bot, non-duplicate) link click; organic notes have no spend.

**Metrics** (NULL when the denominator is 0):
""" + "\n".join(f"- {text}" for _, text in METRICS.values()) + """
- 种草值 (seeding contribution value) = sum over credited back-link actions of weight x count, with
  per-brand weights (defaults: search 1, visit 1, favorite 2, cart 3, order 5)

**k-anonymity.** The breakdown endpoints (`/v1/reports/breakdown`, `/v1/reports/campaigns`,
`/v1/reports/partners`) withhold any row seen by fewer than `serve.k_anonymity` users (default 50):
the row keeps its key and says `withheld: true`, its numbers are null. The user count of a row is the
largest distinct-user count of any one rollup row inside it, a lower bound of its true distinct users,
so a row is never shown on an overestimate.
"""
