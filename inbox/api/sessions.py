"""Login, logout, who am I."""

from __future__ import annotations

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inbox import audit
from inbox.actions import sessions
from inbox.api.common import authenticated, bearer, body, client_address, principal, runtime
from inbox.errors import ActionError, Unauthenticated


class Login(BaseModel):
    email: str
    password: str


async def login(request: Request) -> Response:
    address = client_address(request)
    try:
        data = await body(request, Login)
        with audit.acting(None, address):
            async with runtime(request).uow() as uow:
                result = await sessions.login(uow, data.email, data.password)
    except Unauthenticated as exc:
        # The login's own transaction rolled back: the failure is recorded in one of its own.
        async with runtime(request).uow() as uow:
            await sessions.login_failed(uow, data.email, address)
        return JSONResponse({"error": exc.message}, status_code=exc.status)
    except ActionError as exc:
        return JSONResponse({"error": exc.message}, status_code=exc.status)
    return JSONResponse(result)


@authenticated()
async def logout(request: Request) -> Response:
    async with runtime(request).uow() as uow:
        await sessions.logout(uow, bearer(request))
    return Response(status_code=204)


@authenticated()
async def me(request: Request) -> Response:
    p = principal(request)
    return JSONResponse(
        {"id": p.agent_id, "tenant_id": p.tenant_id, "name": p.name, "email": p.email, "role": p.role}
    )


routes = [
    Route("/api/auth/login", login, methods=["POST"]),
    Route("/api/auth/logout", logout, methods=["POST"]),
    Route("/api/auth/me", me, methods=["GET"]),
]
