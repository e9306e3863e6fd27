"""Dashboard: the pages and static assets served next to the API, reading only the reports API.

``build_site(settings)`` makes the one app that serves both (``GET /`` is the dashboard, or the
sign-in page when no session cookie is presented).
"""

from __future__ import annotations

from seedcart.dashboard.site import build_site, mount_dashboard, plotly_js

__all__ = ["build_site", "mount_dashboard", "plotly_js"]
