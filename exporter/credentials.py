"""Page tokens, read from the environment variables and files the config names."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from exporter.config import Config, ConfigError, TokenSource
from exporter.redact import Secret, register_secret


def resolve_tokens(config: Config, environ: Mapping[str, str]) -> dict[str, Secret]:
    """Every Page's token, keyed by Page id; ConfigError naming each missing source.

    Messages name the variable or file, never a value. Every token read is registered
    with the scrubber before anything else can print it.
    """
    tokens: dict[str, Secret] = {}
    problems: list[str] = []
    cache: dict[TokenSource, Secret | str] = {}
    for index, page in enumerate(config.pages):
        if page.token not in cache:
            cache[page.token] = read_token(page.token, environ)
        found = cache[page.token]
        if isinstance(found, Secret):
            tokens[page.id] = found
        else:
            problems.append(f"{config.source}: pages[{index}] (Page {page.id}): {found}")
    if problems:
        raise ConfigError(problems)
    return tokens


def resolve_user_token(config: Config, environ: Mapping[str, str]) -> Secret | None:
    """The discovery user token, when discovery is configured."""
    if config.discovery is None:
        return None
    found = read_token(config.discovery.user_token, environ)
    if isinstance(found, str):
        raise ConfigError([f"{config.source}: discovery user token: {found}"])
    return found


def resolve_app_secret(config: Config, environ: Mapping[str, str]) -> Secret | None:
    """The app secret, when graph_api names one; ConfigError naming a missing source."""
    source = config.graph_api.app_secret
    if source is None:
        return None
    found = read_token(source, environ)
    if isinstance(found, str):
        raise ConfigError([f"{config.source}: graph_api app secret: {found}"])
    return found


def read_token(source: TokenSource, environ: Mapping[str, str]) -> Secret | str:
    """The token, or a sentence saying why there is none."""
    if source.env is not None:
        value = environ.get(source.env)
        if value is None:
            return f"environment variable {source.env} is not set"
    else:
        assert source.file is not None
        try:
            value = Path(source.file).read_text(encoding="utf-8")
        except FileNotFoundError:
            return f"token file {source.file} does not exist"
        except IsADirectoryError:
            return f"token file {source.file} is a directory"
        except PermissionError:
            return f"token file {source.file} cannot be read (permission denied)"
        except UnicodeDecodeError:
            return f"token file {source.file} is not text"
        except OSError as exc:
            return f"token file {source.file} cannot be read ({exc.strerror})"
    value = value.strip()
    if not value:
        return f"{source.describe()} is empty"
    if any(ch.isspace() for ch in value):
        return f"{source.describe()} holds more than one word; it must hold just the token"
    if not value.isascii() or not value.isprintable():
        return f"{source.describe()} holds characters an access token cannot have"
    register_secret(value)
    return Secret(value)
