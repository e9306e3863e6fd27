"""Arrow schemas of the rollup tables that reports are served from.

Both live in the lake next to the tables they summarise, one file per UTC day
(``<root>/<table>/date=YYYY-MM-DD/rollup.parquet``), replaced whole when that day is rebuilt.

- ``rollup_note_day``: front-link counts per note x day x placement x campaign x partner.
- ``rollup_credit_day``: credited back-link counts and GMV per the same keys x model x action
  x lag day, with the Horvitz-Thompson variance of each sampled estimate.
- ``rollup_note_path_day``: the paths of the back-link events credited to each note, per day x
  model x action, as seen from that note (its touches by kind, every other note's as ``other``),
  labelled as the note detail shows them (repeats folded, long paths cut to their end).
"""

from __future__ import annotations

from typing import Final

import pyarrow as pa

NOTE_DAY: Final = "rollup_note_day"
CREDIT_DAY: Final = "rollup_credit_day"
PATH_DAY: Final = "rollup_note_path_day"

_KEYS: Final = [
    pa.field("day", pa.date32(), nullable=False),
    pa.field("brand_id", pa.int64()),
    pa.field("note_id", pa.string(), nullable=False),
    pa.field("placement", pa.string()),
    pa.field("campaign_id", pa.int64()),
    pa.field("partner", pa.string()),
    pa.field("mode", pa.string()),  # the campaign's UD / CID; null for organic touches
]

#: Front-link counts. Bots and duplicates are excluded from every count.
ROLLUP_NOTE_DAY: Final = pa.schema(
    [
        *_KEYS,
        pa.field("impressions", pa.int64(), nullable=False),
        pa.field("reads", pa.int64(), nullable=False),
        pa.field("deep_reads", pa.int64(), nullable=False),
        pa.field("likes", pa.int64(), nullable=False),
        pa.field("comments", pa.int64(), nullable=False),
        pa.field("collects", pa.int64(), nullable=False),
        pa.field("shares", pa.int64(), nullable=False),
        pa.field("follows", pa.int64(), nullable=False),
        pa.field("link_clicks", pa.int64(), nullable=False),
        pa.field("unique_readers", pa.int64(), nullable=False),  # distinct readers that day
        pa.field("true_interest_readers", pa.int64(), nullable=False),  # deep read or deep interaction
        pa.field("users", pa.int64(), nullable=False),  # distinct users with any touch that day
        pa.field("spend", pa.float64(), nullable=False),  # minor units, from the campaign's bid
    ]
)

#: Credited back-link events (credit x 1/sample_rate) and their variance.
ROLLUP_CREDIT_DAY: Final = pa.schema(
    [
        *_KEYS,
        pa.field("model", pa.string(), nullable=False),
        pa.field("action", pa.string(), nullable=False),
        pa.field("lag_day", pa.int64(), nullable=False),  # floor(lag_s / 86400)
        pa.field("credited", pa.float64(), nullable=False),  # sum of credit x weight
        pa.field("credited_var", pa.float64(), nullable=False),
        pa.field("gmv", pa.float64(), nullable=False),  # sum of credited_amount x weight, minor units
        pa.field("gmv_var", pa.float64(), nullable=False),
        pa.field("events", pa.int64(), nullable=False),  # distinct back-link events behind the row
        pa.field("users", pa.int64(), nullable=False),  # distinct credited users
    ]
)

#: Paths to conversion as one note sees them: the events credited to ``note_id`` under ``model``,
#: each as its candidate touches in time order (from the ``linear`` credit rows, which hold them all,
#: or the model's own rows on a day without linear rows), summed by weight per distinct path label:
#: the label the note detail shows, e.g. ``… → impression ×2 → other → link_click → order``
#: (labelling rule: ``_PATH_SQL`` in :mod:`seedcart.measure.rollup`).
ROLLUP_PATH_DAY: Final = pa.schema(
    [
        pa.field("day", pa.date32(), nullable=False),
        pa.field("note_id", pa.string(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
        pa.field("action", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),  # touch kinds ("other" for other notes), then the action
        pa.field("events", pa.float64(), nullable=False),  # sum of the events' weights (1 / sample_rate)
    ]
)

ROLLUP_SCHEMAS: Final[dict[str, pa.Schema]] = {NOTE_DAY: ROLLUP_NOTE_DAY, CREDIT_DAY: ROLLUP_CREDIT_DAY,
                                               PATH_DAY: ROLLUP_PATH_DAY}
