"""Reproducible measurements of seedcart (DESIGN §6). Run them all with ``make bench``."""
