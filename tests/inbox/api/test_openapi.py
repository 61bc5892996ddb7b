"""`GET /openapi.json`: every JSON route of the app's own route table is described, and schemathesis,
run against a live server (SQLite) as an admin and as an agent, finds no 5xx and no answer outside
its schema."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from starlette.routing import Route

from inbox.config import Settings
from inbox.openapi import OPERATIONS, document
from tests.databases import migrated_database
from tests.fakes.notificame import notificame_app
from tests.fakes.serve import serve
from tests.support import App, notificame_message, running_app

# Routes that do not answer JSON: Prometheus text, provider webhooks (plain text), the websocket,
# uploaded files.
NOT_JSON = {"/metrics", "/webhooks/{provider}/{key}", "/api/uploads/{id}", "/media/{id}/{token}"}

# Left out of the fuzzing, which would otherwise end its own session part-way (random ids hit the
# admin's own: logging out, disabling it, or demoting it to agent). Their schemas are still checked
# by the document test and their behaviour by tests/inbox/api/test_admin.py and test_auth.py.
SELF_HARM = ("post_api_auth_logout", "post_api_admin_agents_id_disable", "patch_api_admin_agents_id")
# Bounds: examples per operation, seconds per run (two runs: admin, agent).
EXAMPLES, SECONDS = 10, 22


async def test_every_json_route_is_described(app: App) -> None:
    r = await app.http.get("/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.1")
    checked = 0
    for route in app.runtime_routes():
        if not isinstance(route, Route) or route.path in NOT_JSON:
            continue
        for method in (route.methods or set()) - {"HEAD"}:
            op = doc["paths"].get(route.path, {}).get(method.lower())
            assert op is not None, f"{method} {route.path} is not in /openapi.json"
            assert op["responses"], (method, route.path)
            checked += 1
    assert checked >= 38, checked
    # The contract's shapes are named: a reply answers a Message, a login a token and an agent.
    reply = doc["paths"]["/api/conversations/{id}/messages"]["post"]
    assert reply["responses"]["202"]["content"]["application/json"]["schema"]["$ref"].endswith("/Message")
    assert reply["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/ReplyIn")
    login = doc["components"]["schemas"]["LoginOut"]
    assert set(login["required"]) == {"token", "agent"}


def test_a_route_without_an_operation_fails_the_document() -> None:
    async def nothing(request: Any) -> Any:
        raise AssertionError

    with pytest.raises(KeyError, match="GET /api/undocumented"):
        document([Route("/api/undocumented", nothing, methods=["GET"])], OPERATIONS)


async def _schemathesis(base_url: str, token: str, report: Path) -> tuple[int, str]:
    argv = [
        sys.executable,
        "-c",
        "import sys; from schemathesis.cli import schemathesis; sys.argv[0] = 'st'; sys.exit(schemathesis())",
        "run",
        f"{base_url}/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "not_a_server_error,response_schema_conformance",
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(EXAMPLES),
        "--max-time",
        str(SECONDS),
        "--generation-deterministic",
        "--no-shrink",
        "--workers",
        "1",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
    ]
    for op in SELF_HARM:
        argv += ["--exclude-operation-id", op]
    # In the report's folder: schemathesis keeps a cache in its working directory.
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=report.parent
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=SECONDS + 60)
    return int(proc.returncode or 0), out.decode(errors="replace")


async def test_schemathesis_finds_no_server_error_and_no_schema_break(tmp_path: Path) -> None:
    """SQLite, once (not per backend): its own database and app, as the fuzzer creates queues and
    agents, and fails logins from 127.0.0.1, which locks the address out."""
    # A fake Hub for the account-setup routes: a fuzzed token is refused (422), never a 502 for a Hub
    # that does not exist.
    hub, _ = notificame_app(token="the-right-token")
    async with migrated_database("sqlite", tmp_path) as url, serve(hub) as hub_url:
        settings = Settings(
            database_url=url,
            data_dir=tmp_path,
            secret_key="test-secret-key",
            log_level="warning",
            workers=False,
            provider_env={"NOTIFICAME_API_URL": hub_url},
        )
        async with running_app(settings) as live:
            tenant = await live.tenant("Fuzz")
            ch = await tenant.channel()
            agent = await tenant.agent()
            assert (await live.post_webhook(ch, notificame_message(ch, text="oi"))).status_code == 200
            described = sum(
                len(ops) for ops in (await live.http.get("/openapi.json")).json()["paths"].values()
            )
            for who in (tenant.admin, agent):
                report = tmp_path / f"{who.role}.xml"
                code, out = await _schemathesis(live.base_url, who.token, report)
                assert code == 0, f"schemathesis as {who.role}:\n{out[-6000:]}"
                # Every operation was exercised within the time bound (schemathesis leaves out the
                # document's own URL).
                tested = len(ElementTree.parse(report).getroot().findall(".//testcase"))
                assert tested == described - len(SELF_HARM) - 1, (tested, described, out[-2000:])
