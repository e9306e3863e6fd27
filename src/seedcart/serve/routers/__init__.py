"""Every API router, joined in one place. One module per resource."""

from __future__ import annotations

from fastapi import APIRouter

from seedcart.serve.routers import (
    backflow,
    campaigns,
    comments,
    health,
    identities,
    intake_health,
    links,
    redirect,
    reports,
    segment,
    session,
)

ROUTERS: list[APIRouter] = [health.router]
ROUTERS += [redirect.router, campaigns.router, links.router, comments.router]
ROUTERS += [segment.router, backflow.router, identities.router, intake_health.router]
ROUTERS += [reports.router, session.router]
