"""Property test over HTTP: arbitrary and mutated webhook bodies, signed where the provider signs,
through the real app and database. The answer is 200 or 400, never a 500 (and the app stays healthy):
hostile values (huge names, odd ids, deep nesting) must not reach the database as errors."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import App, Channel

FIXTURES = Path(__file__).parents[2] / "channels" / "fixtures"
BODIES = {
    "notificame": [json.loads(p.read_text()) for p in sorted((FIXTURES / "notificame").glob("*.json"))],
    "meta": [json.loads(p.read_text()) for p in sorted((FIXTURES / "meta").glob("*.json"))],
}
ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.text(min_size=300, max_size=2000),
    st.just(""),
    st.just([]),
    st.just({}),
    st.just("x" * 5000),
    st.just("\x00\ud7ff"),
    st.just("9" * 400),
)


def _mutate(doc: Any, rnd: random.Random, value: Any) -> Any:
    """Replace one random node of `doc` with `value`."""
    paths: list[list[Any]] = []

    def walk(node: Any, path: list[Any]) -> None:
        paths.append(path)
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, [*path, k])
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, [*path, i])

    walk(doc, [])
    path = rnd.choice(paths[1:] or paths)
    if not path:
        return value
    doc = json.loads(json.dumps(doc))
    node = doc
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return doc


_channels: dict[tuple[str, str], Channel] = {}


async def _channel(app: App, provider: str) -> Channel:
    key = (app.base_url, provider)
    if key not in _channels:
        tenant = await app.tenant("Fuzz")
        _channels[key] = await tenant.channel("whatsapp", provider)
    return _channels[key]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
async def test_no_body_makes_a_500(app: App, data: st.DataObject) -> None:
    provider = data.draw(st.sampled_from(["notificame", "meta"]))
    ch = await _channel(app, provider)
    base = data.draw(st.sampled_from(BODIES[provider]))
    rnd = random.Random(data.draw(st.integers(0, 2**32)))
    body = base
    for _ in range(data.draw(st.integers(1, 3))):
        body = _mutate(body, rnd, data.draw(ODD))
    r = await app.post_webhook(ch, json.dumps(body).encode())
    assert r.status_code in (200, 400), (r.status_code, r.text, body)


async def test_app_is_healthy_after_the_fuzz(app: App) -> None:
    assert (await app.http.get("/healthz")).status_code == 200
