"""The ASGI entry point for servers that build the app from a factory (`uvicorn --factory`)."""

from litestar import Litestar

from orderledger.api.app import create_app
from orderledger.settings import Settings


def build() -> Litestar:
    """The app, with settings read from the environment at start (not at import)."""
    return create_app(Settings.from_env())
