"""The bot's settings routes: tenant layer, channel switch and overrides, usage; roles and tenancy."""

from __future__ import annotations

from sqlalchemy import select

from inbox import models as m
from tests.support import App


async def test_tenant_settings_round_trip(app: App) -> None:
    tenant = await app.tenant()
    http = tenant.admin.http
    r = await http.get("/api/settings/bot")
    assert r.status_code == 200
    assert r.json()["settings"] == {}
    defaults = r.json()["effective"]
    assert defaults["max_turns"] == 8 and defaults["reply_timeout_seconds"] == 20
    assert defaults["holding_message"] == "Um momento, vou chamar um atendente."
    assert defaults["handoff_keywords"] == ["atendente", "humano", "pessoa", "human", "agent"]

    hours = {"tz": "America/Sao_Paulo", "days": {"mon": ["08:00", "18:00"]}}
    r = await http.put(
        "/api/settings/bot",
        json={"system_prompt": "Você é a Bia.", "max_turns": 4, "business_hours": hours},
    )
    assert r.status_code == 200, r.text
    assert r.json()["settings"] == {
        "system_prompt": "Você é a Bia.",
        "max_turns": 4,
        "business_hours": {"tz": "America/Sao_Paulo", "days": {"mon": [["08:00", "18:00"]]}},
    }
    r = await http.get("/api/settings/bot")
    assert r.json()["effective"]["system_prompt"] == "Você é a Bia."
    assert r.json()["effective"]["max_turns"] == 4

    for bad, where in [
        ({"max_turns": 0}, "max_turns"),
        ({"reply_timeout_seconds": -1}, "reply_timeout_seconds"),
        ({"colour": "blue"}, "colour"),
        ({"business_hours": {"tz": "Nowhere/City"}}, "business_hours"),
        ([1, 2], "body"),
    ]:
        r = await http.put("/api/settings/bot", json=bad)
        assert r.status_code == 400, bad
        assert where in r.json()["error"], r.json()
    # Another tenant's settings are untouched.
    other = await app.tenant()
    assert (await other.admin.http.get("/api/settings/bot")).json()["settings"] == {}


async def test_roles(app: App) -> None:
    tenant = await app.tenant()
    agent = await tenant.agent(role="agent")
    supervisor = await tenant.agent(role="supervisor")
    ch = await tenant.channel(bot=True)
    assert (await agent.http.get("/api/settings/bot")).status_code == 403
    assert (await agent.http.get(f"/api/channels/{ch.id}/bot")).status_code == 403
    assert (await supervisor.http.get("/api/settings/bot")).status_code == 200
    assert (await supervisor.http.get("/api/bot/usage")).status_code == 200
    assert (await supervisor.http.put("/api/settings/bot", json={})).status_code == 403
    assert (
        await supervisor.http.put(f"/api/channels/{ch.id}/bot", json={"enabled": False})
    ).status_code == 403
    assert (await app.http.get("/api/settings/bot")).status_code == 401


async def test_channel_switch_and_overrides(app: App) -> None:
    tenant = await app.tenant()
    http = tenant.admin.http
    ch = await tenant.channel(bot=True, settings={"human_agent_tag": True})
    await http.put("/api/settings/bot", json={"system_prompt": "Loja X", "max_turns": 4})

    r = await http.put(f"/api/channels/{ch.id}/bot", json={"settings": {"max_turns": 2}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["enabled"], body["settings"]) == (True, {"max_turns": 2})
    assert (body["effective"]["max_turns"], body["effective"]["system_prompt"]) == (2, "Loja X")

    # Off works; on needs OPENAI_API_KEY (this app has none): a clear refusal.
    r = await http.put(f"/api/channels/{ch.id}/bot", json={"enabled": False})
    assert (r.status_code, r.json()["enabled"], r.json()["settings"]) == (200, False, {"max_turns": 2})
    r = await http.put(f"/api/channels/{ch.id}/bot", json={"enabled": True})
    assert r.status_code == 422
    assert "OPENAI_API_KEY" in r.json()["error"]

    # null clears the channel's layer; the channel's other settings are kept.
    r = await http.put(f"/api/channels/{ch.id}/bot", json={"settings": None})
    assert r.json()["settings"] == {} and r.json()["effective"]["max_turns"] == 4
    async with app.runtime.engine.connect() as conn:
        stored = (
            await conn.execute(select(m.channels.c.settings).where(m.channels.c.id == ch.id))
        ).scalar_one()
    assert stored == {"human_agent_tag": True, "bot": {}}

    r = await http.put(f"/api/channels/{ch.id}/bot", json={"settings": {"max_turns": 1000}})
    assert r.status_code == 400

    other = await app.tenant()
    assert (await other.admin.http.get(f"/api/channels/{ch.id}/bot")).status_code == 404
    assert (
        await other.admin.http.put(f"/api/channels/{ch.id}/bot", json={"enabled": False})
    ).status_code == 404
    assert (await http.get("/api/channels/nope/bot")).status_code == 404


async def test_usage_figures(app: App) -> None:
    tenant = await app.tenant()
    r = await tenant.admin.http.get("/api/bot/usage")
    assert r.json() == {"turns": {}, "prompt_tokens": 0, "completion_tokens": 0}
    assert (await tenant.admin.http.get("/api/bot/usage?since=yesterday")).status_code == 400
