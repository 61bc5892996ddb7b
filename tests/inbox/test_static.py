"""The browser app is served by the app itself: the login form without JavaScript, modules with a
JavaScript type, everything revalidated (no build step, so no hashed names to bust caches)."""

from __future__ import annotations

from tests.support import App


async def test_index_and_modules(app: App) -> None:
    r = await app.http.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-cache"
    assert 'type="email"' in r.text and 'type="password"' in r.text
    for path in ("/js/main.js", "/js/views/conversation.js", "/js/ws.js"):
        r = await app.http.get(path)
        assert r.status_code == 200, path
        assert "javascript" in r.headers["content-type"], path
    r = await app.http.get("/css/app.css")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/css")
    etag = r.headers["etag"]
    again = await app.http.get("/css/app.css", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["cache-control"] == "no-cache"
    assert (await app.http.get("/js/missing.js")).status_code == 404
