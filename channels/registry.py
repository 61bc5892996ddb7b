"""Provider name -> adapter. The only place that knows which providers exist.

Everything the core lists about providers (their names, the networks they serve, what a channel is
created with, the environment that configures them, their messaging windows) is derived here from
the adapters' class attributes. Adding a provider is one module and one line in `ADAPTERS`
(tests/channels/test_registry.py adds one that way and drives it end to end).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from channels.base import AccountSetup, Adapter, ChannelKind, Option
from channels.meta import MetaAdapter
from channels.notificame import NotificameAdapter

ADAPTERS: tuple[type[Adapter], ...] = (NotificameAdapter, MetaAdapter)


def providers() -> tuple[str, ...]:
    return tuple(a.provider for a in ADAPTERS)


def kinds() -> tuple[ChannelKind, ...]:
    """Every network some provider serves, each once."""
    return tuple(dict.fromkeys(k for a in ADAPTERS for k in a.kinds))


def adapter_class(provider: str) -> type[Adapter] | None:
    return next((a for a in ADAPTERS if a.provider == provider), None)


def providers_of(kind: str) -> list[str]:
    return [a.provider for a in ADAPTERS if kind in a.kinds]


def build_adapters(env: Mapping[str, str]) -> dict[str, Adapter]:
    """One configured adapter per provider (`env`: the variables they declare; defaults otherwise)."""
    return {a.provider: a.from_env(env) for a in ADAPTERS}


def env_defaults() -> dict[str, str]:
    """Every provider's configuration variables with their defaults."""
    return {name: default for a in ADAPTERS for name, default in a.env.items()}


def options() -> list[Option]:
    """Every provider's channel options, each flag once (providers may share one)."""
    seen: dict[str, Option] = {}
    for a in ADAPTERS:
        for option in a.options:
            seen.setdefault(option.flag, option)
    return list(seen.values())


def channel_fields(
    provider: str, values: Mapping[str, object]
) -> tuple[str | None, dict[str, str], dict[str, object]]:
    """A new channel's (external_id, secrets, settings) from option values keyed by `Option.dest`
    (argparse's namespace, an admin form). Validation is the create action's."""
    adapter = adapter_class(provider)
    external_id: str | None = None
    secrets: dict[str, str] = {}
    settings: dict[str, object] = {}
    for option in adapter.options if adapter is not None else ():
        value = values.get(option.dest)
        if option.target == "external_id":
            external_id = str(value) if value else None
        elif option.target == "secret":
            secrets[option.name] = str(value) if value else ""
        elif value:
            settings[option.name] = True
    return external_id, secrets, settings


def window_of(provider: str) -> timedelta | None:
    """The provider's free-form messaging window (None: it has none the inbox judges)."""
    adapter = adapter_class(provider)
    return None if adapter is None else adapter.window


def window_closes_at(provider: str, last_inbound_at: datetime | None) -> datetime | None:
    """When that window closes for a customer who last wrote at `last_inbound_at`."""
    window = window_of(provider)
    return None if window is None or last_inbound_at is None else last_inbound_at + window


def account_setups(adapters: Mapping[str, Adapter]) -> dict[str, AccountSetup]:
    """The configured adapters that can connect a whole account (`AccountSetup`), by provider."""
    return {name: a for name, a in adapters.items() if isinstance(a, AccountSetup)}


def account_options() -> dict[str, Option]:
    """Provider -> the option holding its account token, for providers that can connect an account."""
    # Instances, not classes: a protocol with data members supports isinstance() only.
    return {name: a.account_option for name, a in account_setups(build_adapters({})).items()}
