"""Provider name -> adapter. The only place that knows which providers exist."""

from __future__ import annotations

from channels.base import Adapter


def build_adapters(*, notificame_api_url: str, meta_graph_url: str) -> dict[str, Adapter]:
    from channels.meta import MetaAdapter
    from channels.notificame import NotificameAdapter

    adapters: list[Adapter] = [
        NotificameAdapter(api_url=notificame_api_url),
        MetaAdapter(graph_url=meta_graph_url),
    ]
    return {a.provider: a for a in adapters}
