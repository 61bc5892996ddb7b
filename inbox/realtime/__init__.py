"""Realtime: the per-process hub, the cross-process bus, the websocket endpoint."""
