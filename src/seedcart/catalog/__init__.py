"""The catalog: brands, categories, partners, products, notes, campaigns, links and API keys.

SQLite in the data dir by default, PostgreSQL by URL, through the same SQLAlchemy 2 code.

- ``db``: ``open_catalog(settings)`` -> ``Catalog`` (``with cat.session() as s:`` commits on success)
- ``models``: the tables; ``migrations``: their versioned history; ``seed``: what a new catalog holds
- ``repo``: every repository function (from ``brands``, ``partners``, ``products``, ``campaigns``,
  ``links`` and ``keys``, one module per resource)
"""
