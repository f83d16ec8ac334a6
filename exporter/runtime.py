"""What the exporter runs with between two reloads or rediscoveries, built whole.

A config load gives Settings; Settings and the discovered Pages give a Runtime: the
Pages this replica owns, their tokens, and the client, refresher and token checker that
use them. The exporter publishes a Runtime with one assignment, and a refresh round, a
scrape or a token check takes it once, at its start, and uses only that one: none of
them can see the Pages of one config with the client or tokens of another.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from exporter.config import Config, PageConfig
from exporter.credentials import DISCOVERED
from exporter.discovery import DiscoveredPage
from exporter.graph_client import GraphClient
from exporter.redact import Secret
from exporter.refresh import PageRefresher
from exporter.sharding import Shard
from exporter.token_check import TokenChecker


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a config load produces."""

    config: Config
    tokens: Mapping[str, Secret]
    app_secret: Secret | None = None
    user_token: Secret | None = None  # lists Pages for discovery
    shard: Shard = field(default_factory=Shard)


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    discovered: tuple[DiscoveredPage, ...]
    pages: Mapping[str, PageConfig]  # the Pages this replica owns, by id
    tokens: Mapping[str, Secret]  # the token of each owned Page
    client: GraphClient
    refresher: PageRefresher
    token_checker: TokenChecker | None

    @property
    def config(self) -> Config:
        return self.settings.config


def owned_pages(
    settings: Settings, discovered: tuple[DiscoveredPage, ...]
) -> tuple[Mapping[str, PageConfig], Mapping[str, Secret]]:
    """The Pages this replica refreshes, and their tokens: configured ones (which win over
    discovered ones with the same id) and discovered ones, those of its shard only."""
    pages = {page.id: page for page in settings.config.pages}
    tokens = dict(settings.tokens)
    for found in discovered:
        if found.id not in pages:
            pages[found.id] = PageConfig(found.id, found.name or None, DISCOVERED, settings.config.metrics)
            tokens[found.id] = found.token
    owned = {page_id: page for page_id, page in pages.items() if settings.shard.owns(page_id)}
    return MappingProxyType(owned), MappingProxyType({page_id: tokens[page_id] for page_id in owned})


def can_keep_client(
    previous: Runtime, settings: Settings, pages: Mapping[str, PageConfig], tokens: Mapping[str, Secret]
) -> bool:
    """Whether the next runtime may go on with the previous one's client: same API settings
    and app secret, and no Page or token it was given is gone. Otherwise the previous
    client is retired, and a retired client sends nothing more: once the swap is done, no
    request goes out about a removed Page or with a removed token."""
    return (
        previous.config.graph_api == settings.config.graph_api
        and previous.settings.app_secret == settings.app_secret
        and previous.pages.keys() <= pages.keys()
        and set(previous.tokens.values()) <= set(tokens.values())
    )
