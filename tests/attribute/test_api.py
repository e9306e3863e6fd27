"""The public face of seedcart.attribute is what its ``__all__`` says."""

from __future__ import annotations

import seedcart.attribute as attribute


def test_all_is_exactly_what_is_exported() -> None:
    public = {name for name in vars(attribute) if not name.startswith("_") and name != "annotations"}
    modules = {name for name in public if type(getattr(attribute, name)).__name__ == "module"}
    assert set(attribute.__all__) == public - modules
    assert {"attribute", "attribute_arrow", "attribute_files", "aggregate_credit", "rebuild_credit"} <= public
