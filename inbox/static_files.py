"""The browser app's files (static/): served as they are, revalidated on every load.

There is no build step and so no content hashes in file names: `no-cache` makes the browser ask
(a cheap 304 when unchanged) instead of mixing cached modules of an older version after an upgrade.
"""

from __future__ import annotations

import os
from typing import Any

from starlette.responses import Response
from starlette.staticfiles import StaticFiles


class AppFiles(StaticFiles):
    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        return response


def app_files(directory: str | os.PathLike[str]) -> AppFiles:
    return AppFiles(directory=directory, html=True)
