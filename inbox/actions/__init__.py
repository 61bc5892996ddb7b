"""The only code that writes. Each action runs inside a `UnitOfWork` and emits events for after commit.

Modules: `admin` (tenants, agents, channels), `sessions` (login/logout), `ingest` (webhooks in),
`replies` (messages out, outbox), `conversations` (assign, resolve, handoff...), `presence`,
`hooks` (outgoing webhook subscriptions and their delivery outcomes).
"""
