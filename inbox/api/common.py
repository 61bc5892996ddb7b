"""What every API route shares: JSON answers, errors, the authenticated principal, input models."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from inbox import audit
from inbox.auth import Principal, principal_for
from inbox.errors import ActionError, Forbidden, Invalid, Unauthenticated
from inbox.runtime import Runtime
from inbox.validation import MAX_ID, validate

Handler = Callable[[Request], Awaitable[Response]]

M = TypeVar("M", bound=BaseModel)


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def error(status: int, message: str, code: str) -> JSONResponse:
    """An error answer not raised as an `ActionError` (`code`: one of inbox.errors.CODES)."""
    return JSONResponse({"error": message, "code": code}, status_code=status)


def error_answer(exc: ActionError, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """`{"error", "code", "params"?}` with the error's status."""
    return JSONResponse(exc.answer(), status_code=exc.status, headers=headers)


# Starlette's own answers (no route, wrong method) and a crash, for the API's paths: JSON with a
# code like every other error answer. Elsewhere (static files) Starlette's plain text stays.
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


async def http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    headers = getattr(exc, "headers", None)
    if not request.url.path.startswith("/api/"):
        if isinstance(exc, HTTPException):
            return PlainTextResponse(str(exc.detail), status_code=status, headers=headers)
        return PlainTextResponse("Internal Server Error", status_code=500)
    if isinstance(exc, HTTPException):
        code = _HTTP_CODES.get(status, "invalid" if status < 500 else "internal")
        return JSONResponse({"error": str(exc.detail), "code": code}, status_code=status, headers=headers)
    return JSONResponse({"error": "internal server error", "code": "internal"}, status_code=500)


def client_address(request: Request) -> str | None:
    """The caller's IP address as the server saw it (uvicorn applies trusted proxies' headers)."""
    return request.client.host if request.client else None


def bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def principal(request: Request) -> Principal:
    p: Principal = request.state.principal
    return p


def authenticated(*roles: str) -> Callable[[Handler], Handler]:
    """Resolve the bearer token (401 if missing/bad/expired); with `roles`, 403 for other roles.
    Also turns `ActionError`s raised by the handler into JSON answers."""

    def wrap(fn: Handler) -> Handler:
        @functools.wraps(fn)
        async def handler(request: Request) -> Response:
            try:
                async with runtime(request).engine.connect() as conn:
                    request.state.principal = await principal_for(conn, bearer(request))
                if roles and request.state.principal.role not in roles:
                    raise Forbidden("your role may not do this", code="role_forbidden")
                # Audit rows written while handling this request name its agent and address.
                with audit.acting(request.state.principal.agent_id, client_address(request)):
                    return await fn(request)
            except ActionError as exc:
                headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthenticated) else None
                return error_answer(exc, headers)

        return handler

    return wrap


async def json_body(request: Request) -> Any:
    """The JSON body (an empty one is `{}`); 400 when it is not JSON. For actions that validate it."""
    try:
        return json.loads(await request.body() or b"{}")
    except ValueError as exc:
        raise Invalid("body is not JSON", code="body_not_json") from exc


async def body(request: Request, model: type[M]) -> M:
    """Parse and validate a JSON body; 400 with a readable reason otherwise."""
    return validate(model, await json_body(request), what="body")


def int_param(request: Request, name: str) -> int:
    """A path id; anything not an integer is simply not found."""
    from inbox.errors import NotFound

    try:
        value = int(request.path_params[name])
    except (KeyError, ValueError) as exc:
        raise NotFound("not found") from exc
    if not 1 <= value <= MAX_ID:
        raise NotFound("not found")
    return value
