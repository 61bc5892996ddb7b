"""`inbox demo`: a clinic with channels, agents, a bot and simulated customers, all on 127.0.0.1.

Owns the demo's seed data, its in-process fakes (a Notifica.me Hub, an OpenAI-compatible model) and the
customer simulator. Outside `inbox/` because it speaks one provider's wire format on purpose; it must
never be imported by the product, and it reaches the inbox only over real HTTP on loopback.
"""
