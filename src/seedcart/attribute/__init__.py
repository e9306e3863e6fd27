"""Matching and credit models, written once as Ibis expressions (DESIGN §5).

Public API::

    attribute(touches, events, identity, config, models) -> ibis.Table   # the credit table expression
    attribute_arrow(...) -> pyarrow.Table
    attribute_tables(touches, conversions, config, models, engine) -> pyarrow.Table   # users' own data
    attribute_files(touches_path, conversions_path, out_path, config, models, engine) -> dict
    aggregate_credit(credit, by, value) -> ibis.Table    # estimates with 95 % intervals
    rebuild_credit(settings, catalog) -> int             # lake in, credit table replaced
"""

from __future__ import annotations

from seedcart.attribute.config import AttributionConfig, config_from_settings
from seedcart.attribute.files import attribute_files, attribute_tables
from seedcart.attribute.intervals import Z95, aggregate_credit
from seedcart.attribute.lake import compute_credit, rebuild_credit
from seedcart.attribute.pipeline import attribute, attribute_arrow

__all__ = [
    "Z95",
    "AttributionConfig",
    "aggregate_credit",
    "attribute",
    "attribute_arrow",
    "attribute_files",
    "attribute_tables",
    "compute_credit",
    "config_from_settings",
    "rebuild_credit",
]
