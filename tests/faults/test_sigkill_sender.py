"""The sending process SIGKILLed while replies are in flight: after a restart every reply reaches
the provider, none more than once beyond the call that was in flight when the process died, and each
ends `sent` with exactly one row on our side.

The fake Notifica.me answers the first sends at once and then holds every later one unanswered, so
the test knows exactly which sends were in flight at the kill (Notifica.me has no idempotency key:
those are the only ones that may reach it twice).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from pathlib import Path

from tests.fakes.notificame import notificame_app
from tests.fakes.serve import serve
from tests.faults.harness import (
    Held,
    fetch,
    first_heard_in_order,
    inbox_serve,
    poll_rows,
    provision,
    seed_replies,
    wait_until,
)
from tests.faults.servers import PgServer

CONVERSATIONS = 20
PER_CONVERSATION = 2
ANSWERED_FIRST = 10
OUT_ROWS = (
    "SELECT id, text, status, provider_message_id FROM messages"
    " WHERE tenant_id = $1 AND direction = 'out' AND sender_type = 'agent'"
)


async def test_sigkill_mid_send_then_restart_delivers_every_reply(
    pg_server: PgServer, tmp_path: Path
) -> None:
    db = await pg_server.create_database()
    site = await provision(pg_server.url(db), pg_server.dsn(db), tmp_path)
    nm_app, nm = notificame_app(token="nm-token")
    provider = Held(nm_app, pass_first=ANSWERED_FIRST)
    total = CONVERSATIONS * PER_CONVERSATION
    async with serve(provider) as nm_url:
        try:
            env = {
                **site.env,
                "NOTIFICAME_API_URL": nm_url + "/v1",
                "INBOX_SEND_LEASE_SECONDS": "2",
                "INBOX_SEND_TIMEOUT_SECONDS": "30",
                "INBOX_SEND_BACKOFF_BASE_SECONDS": "0.05",
                "INBOX_SEND_BACKOFF_MAX_SECONDS": "0.5",
            }
            log = tmp_path / "serve.log"
            async with inbox_serve(env, log) as first:
                texts_posted = await seed_replies(first.url, site, CONVERSATIONS, PER_CONVERSATION, "5531900")
                assert len(texts_posted) == total

                await poll_rows(
                    site.dsn,
                    OUT_ROWS,
                    (site.tenant_id,),
                    lambda rows: sum(r["status"] == "sent" for r in rows) == ANSWERED_FIRST,
                    30,
                    "the first answered sends to be stored",
                )
                await wait_until(lambda: provider.held >= 1, 30, "sends in flight")
                # The more in flight at the kill, the stronger the test: give the workers a moment
                # to pick up more (today a process sends up to 16 at once), without requiring it.
                with contextlib.suppress(AssertionError):
                    await wait_until(lambda: provider.held >= 8, 5, "more sends in flight")
                first.proc.kill()  # SIGKILL: no shutdown, no lease released
                await first.proc.wait()
                in_flight = +provider.waiting
                arrived_at_kill = sum(provider.arrived.values())

            rows = await fetch(site.dsn, OUT_ROWS, site.tenant_id)
            at_kill = Counter(r["status"] for r in rows)
            assert at_kill == {"sent": ANSWERED_FIRST, "queued": total - ANSWERED_FIRST}, at_kill

            provider.gate.set()  # the dead process's calls now reach the provider and are answered
            async with inbox_serve(env, log) as second:
                try:
                    rows = await poll_rows(
                        site.dsn,
                        OUT_ROWS,
                        (site.tenant_id,),
                        lambda rows: all(r["status"] == "sent" for r in rows),
                        40,
                        "every reply sent after the restart",
                    )
                except AssertionError:
                    print(second.log_tail())
                    raise
            outbox = await fetch(
                site.dsn, "SELECT count(*) AS n FROM outbox WHERE tenant_id = $1", site.tenant_id
            )
        finally:
            provider.gate.set()  # never leave the fake waiting

    texts = [r["text"] for r in rows]
    assert len(rows) == total and len(set(texts)) == total, Counter(texts).most_common(3)
    assert sorted(texts) == sorted(texts_posted)
    assert outbox[0]["n"] == 0
    for text in texts:
        assert 1 <= provider.arrived[text] <= 1 + in_flight[text], (
            text,
            provider.arrived[text],
            in_flight[text],
        )
    assert first_heard_in_order(provider.order, texts_posted)
    provider_ids = [r["provider_message_id"] for r in rows]
    assert len(set(provider_ids)) == total and set(provider_ids) <= set(nm.sent_ids)
    resent = sum(provider.arrived.values()) - total
    assert resent <= sum(in_flight.values())
    print(
        f"\nfaults: sigkill sender: replies {total}, answered before kill {ANSWERED_FIRST}, "
        f"in flight at kill {sum(in_flight.values())}, provider calls {sum(provider.arrived.values())} "
        f"({arrived_at_kill} before the kill, {resent} resent), stored {len(rows)} rows once, all sent"
    )
