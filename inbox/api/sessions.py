"""Login, logout, who am I."""

from __future__ import annotations

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inbox import audit
from inbox.actions import lockouts, sessions
from inbox.api.common import authenticated, bearer, body, client_address, error_answer, principal, runtime
from inbox.errors import ActionError, Unauthenticated


class Login(BaseModel):
    email: str
    password: str


async def login(request: Request) -> Response:
    """Refused with 429 and `Retry-After` while the email or the remote address is locked out
    (inbox/actions/lockouts.py), before the password is checked: even the right one. Logins and
    failed logins are audited (a failure in a transaction of its own: the login's rolled back)."""
    rt = runtime(request)
    # The peer as the server sees it: behind a proxy, run uvicorn with --proxy-headers and
    # --forwarded-allow-ips so that this is the client's address (a spoofable header is never read here).
    address = client_address(request) or "unknown"
    try:
        data = await body(request, Login)
        async with rt.engine.connect() as conn:
            await lockouts.check(conn, rt.settings, data.email, address)
        try:
            with audit.acting(None, address):
                async with rt.uow() as uow:
                    result = await sessions.login(uow, data.email, data.password)
                    await lockouts.forget_email(uow, data.email)
        except Unauthenticated:
            async with rt.uow() as uow:
                await lockouts.record_failure(uow, data.email, address)
                await sessions.login_failed(uow, data.email, address)
            raise
    except lockouts.TooManyAttempts as exc:
        return error_answer(exc, {"Retry-After": str(exc.retry_after)})
    except ActionError as exc:
        return error_answer(exc)
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
