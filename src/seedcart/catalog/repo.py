"""The catalog's repository functions in one place, for routers, the simulator and the CLI.

Each takes a :class:`sqlalchemy.orm.Session` (``with catalog.session() as s:``) first, returns
model objects (readable after the session closes), and refuses bad input with
``ValidationError(field=...)``, unknown ids with ``NotFound``, duplicates with ``Conflict``.
The functions live in one module per resource; import them from here or from there.
"""

from __future__ import annotations

from seedcart.catalog.brands import (
    create_brand,
    find_brand_by_name,
    get_brand,
    get_category,
    list_brands,
    list_categories,
    set_category_lookback,
    set_contribution_weights,
)
from seedcart.catalog.campaigns import (
    CAMPAIGN_STATUSES,
    create_campaign,
    get_campaign,
    list_campaigns,
    update_campaign,
)
from seedcart.catalog.keys import authenticate, create_key, issue_key, list_keys, revoke_key
from seedcart.catalog.links import (
    catalog_version,
    create_link,
    find_link_by_code,
    get_link,
    get_link_by_code,
    links_changed_since,
    list_links,
    set_link_active,
)
from seedcart.catalog.partners import (
    UNSET,
    add_pilot_brand,
    admits_brand,
    get_partner,
    list_partners,
    lookback_override,
    remove_pilot_brand,
    rotate_signing_secret,
    update_partner,
)
from seedcart.catalog.products import (
    create_product,
    find_product,
    get_note,
    get_product,
    get_product_by_item,
    list_notes,
    list_products,
    upsert_note,
)

__all__ = [
    "CAMPAIGN_STATUSES",
    "UNSET",
    "add_pilot_brand",
    "admits_brand",
    "authenticate",
    "catalog_version",
    "create_brand",
    "create_campaign",
    "create_key",
    "create_link",
    "create_product",
    "find_brand_by_name",
    "find_link_by_code",
    "find_product",
    "get_brand",
    "get_campaign",
    "get_category",
    "get_link",
    "get_link_by_code",
    "get_note",
    "get_partner",
    "get_product",
    "get_product_by_item",
    "issue_key",
    "links_changed_since",
    "list_brands",
    "list_campaigns",
    "list_categories",
    "list_keys",
    "list_links",
    "list_notes",
    "list_partners",
    "list_products",
    "lookback_override",
    "remove_pilot_brand",
    "revoke_key",
    "rotate_signing_secret",
    "set_category_lookback",
    "set_contribution_weights",
    "set_link_active",
    "update_campaign",
    "update_partner",
    "upsert_note",
]
