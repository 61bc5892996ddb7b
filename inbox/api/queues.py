"""PLACEHOLDER: routes for this area arrive with their issue."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
