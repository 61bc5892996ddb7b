"""PLACEHOLDER: the websocket endpoint arrives with the realtime issue."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
