"""The app factory the crash test runs in a child process: ``uvicorn --factory tests.collect.crash_app:app``."""

from __future__ import annotations

from fastapi import FastAPI

from seedcart.config import load_settings
from seedcart.serve.app import create_app


def app() -> FastAPI:
    """The seedcart API on the settings of the environment (SEEDCART__DATA_DIR)."""
    return create_app(load_settings())
