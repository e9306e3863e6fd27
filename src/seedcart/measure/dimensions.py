"""What reports need from the catalog: campaigns (bid, mode, partner), notes (brand, title), brands.

Read once per rollup refresh as small Arrow tables that DuckDB joins against; their fingerprint
tells the rollup when a catalog change (a new bid, a note moved to a brand) must rebuild days.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from sqlalchemy import select

from seedcart.catalog.db import Catalog
from seedcart.catalog.models import Brand, Campaign, Note

#: Seeding contribution value weights per credited back-link action (种草值), unless a brand sets its own.
DEFAULT_CONTRIBUTION_WEIGHTS: dict[str, float] = {
    "search": 1.0, "visit": 1.0, "favorite": 2.0, "cart": 3.0, "order": 5.0,
}

CAMPAIGNS_SCHEMA = pa.schema([
    pa.field("id", pa.int64()), pa.field("brand_id", pa.int64()), pa.field("partner_id", pa.string()),
    pa.field("name", pa.string()), pa.field("mode", pa.string()), pa.field("bid_type", pa.string()),
    pa.field("bid_price", pa.int64()),
])
NOTES_SCHEMA = pa.schema([
    pa.field("id", pa.string()), pa.field("brand_id", pa.int64()), pa.field("title", pa.string()),
    pa.field("format", pa.string()),
])


@dataclass(frozen=True)
class Dimensions:
    """Catalog rows as Arrow tables, plus each brand's contribution weights."""

    campaigns: pa.Table
    notes: pa.Table
    brand_weights: dict[int, dict[str, float]] = field(default_factory=dict)
    brand_names: dict[int, str] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        """Changes whenever a column the rollups depend on changes (bids, modes, note brands)."""
        digest = hashlib.sha256()
        for table in (self.campaigns.select(["id", "brand_id", "partner_id", "mode", "bid_type", "bid_price"]),
                      self.notes.select(["id", "brand_id"])):
            digest.update(json.dumps(table.to_pylist(), sort_keys=True, default=str).encode())
        return digest.hexdigest()

    @property
    def signature(self) -> str:
        """Changes whenever anything a report shows from the catalog changes (titles and weights too)."""
        digest = hashlib.sha256()
        for part in (self.campaigns.to_pylist(), self.notes.to_pylist(), self.brand_weights, self.brand_names):
            digest.update(json.dumps(part, sort_keys=True, default=str).encode())
        return digest.hexdigest()

    def weights_for(self, brand_id: int | None) -> dict[str, float]:
        """The brand's seeding contribution weights, defaults filled in."""
        own = self.brand_weights.get(brand_id, {}) if brand_id is not None else {}
        return {**DEFAULT_CONTRIBUTION_WEIGHTS, **own}

    def ud_campaigns_of(self, partner_id: str) -> list[int]:
        """The ids of the UD campaigns a partner runs (what a partner key may see)."""
        rows: list[dict[str, Any]] = self.campaigns.to_pylist()
        return sorted(int(r["id"]) for r in rows if r["mode"] == "UD" and r["partner_id"] == partner_id)


def load_dimensions(catalog: Catalog) -> Dimensions:
    """Read campaigns, notes and brands from the catalog."""
    with catalog.session() as session:
        campaigns = [
            {"id": c.id, "brand_id": c.brand_id, "partner_id": c.partner_id, "name": c.name, "mode": c.mode,
             "bid_type": c.bid_type, "bid_price": c.bid_price}
            for c in session.scalars(select(Campaign).order_by(Campaign.id))
        ]
        notes = [
            {"id": n.id, "brand_id": n.brand_id, "title": n.title, "format": n.format}
            for n in session.scalars(select(Note).order_by(Note.id))
        ]
        weights: dict[int, dict[str, float]] = {}
        names: dict[int, str] = {}
        for brand in session.scalars(select(Brand)):
            names[brand.id] = brand.name
            if brand.contribution_weights:
                weights[brand.id] = {str(k): float(v) for k, v in brand.contribution_weights.items()}
    return Dimensions(
        campaigns=pa.Table.from_pylist(campaigns, schema=CAMPAIGNS_SCHEMA),
        notes=pa.Table.from_pylist(notes, schema=NOTES_SCHEMA),
        brand_weights=weights, brand_names=names,
    )
