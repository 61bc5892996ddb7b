"""Attachments: `POST /api/uploads` (the file as the raw body, its type in Content-Type, its name in
`?name=`), read back by the tenant's agents at `GET /api/uploads/{id}`, and by providers at the
signed `GET /media/{id}/{expires}.{signature}` (no login: the signature is the credential).

A raw body rather than multipart/form-data: one file per request is all the composer needs, it
streams to disk as it arrives, and Starlette's form parser would need another dependency
(python-multipart). Errors: 413 over the size limit (INBOX_UPLOAD_MAX_MB), 415 a type not taken,
400 an empty body.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from inbox import uploads
from inbox.actions import uploads as actions
from inbox.api.common import authenticated, error, int_param, principal, runtime
from inbox.errors import NotFound

# Files are someone's upload: never run as a page, never sniffed into something runnable.
_SAFE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, max-age=3600",
}


@authenticated()
async def upload(request: Request) -> Response:
    p = principal(request)
    rt = runtime(request)
    mime = uploads.check_type(request.headers.get("content-type"))
    name = uploads.clean_name(request.query_params.get("name"), mime)
    key, size = await uploads.store(
        rt.settings.data_dir,
        p.tenant_id,
        request.stream(),
        request.headers.get("content-length"),
        rt.settings.upload_max_bytes,
    )
    try:
        async with rt.uow() as uow:
            data = await actions.record(
                uow, p.tenant_id, p.agent_id, storage_key=key, name=name, mime_type=mime, size=size
            )
    except BaseException:
        uploads.path_of(rt.settings.data_dir, p.tenant_id, key).unlink(missing_ok=True)
        raise
    return JSONResponse(data, status_code=201)


def _file(request: Request, row: Any) -> Response:
    path = uploads.path_of(runtime(request).settings.data_dir, row.tenant_id, row.storage_key)
    if not path.is_file():
        raise NotFound("not found")
    inline = row.mime_type.startswith(uploads.INLINE_TYPES)
    return FileResponse(
        path,
        media_type=row.mime_type,
        filename=row.name,
        content_disposition_type="inline" if inline else "attachment",
        headers=_SAFE_HEADERS,
    )


@authenticated()
async def read(request: Request) -> Response:
    """The tenant's agents only (another tenant's id is 404, like a missing one)."""
    p = principal(request)
    upload_id = int_param(request, "id")
    async with runtime(request).engine.connect() as conn:
        row = await actions.find(conn, p.tenant_id, upload_id)
    if row is None:
        raise NotFound("not found")
    return _file(request, row)


async def public(request: Request) -> Response:
    """For providers, which fetch media by URL: the signed, expiring address made at send time."""
    rt = runtime(request)
    try:
        upload_id = int_param(request, "id")
    except NotFound:
        return error(404, "not found", "not_found")
    async with rt.engine.connect() as conn:
        row = await actions.by_id(conn, upload_id)
    if row is None or not uploads.signed(rt.box, row.tenant_id, upload_id, request.path_params["token"]):
        return error(404, "not found", "not_found")
    try:
        return _file(request, row)
    except NotFound:
        return error(404, "not found", "not_found")


routes = [
    Route("/api/uploads", upload, methods=["POST"]),
    Route("/api/uploads/{id}", read, methods=["GET"]),
    Route("/media/{id}/{token}", public, methods=["GET"]),
]
