"""Page tokens, read from the environment variables and files the config names."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from exporter.config import Config, ConfigError, TokenSource
from exporter.redact import Secret, register_secret

# Discovered Pages' tokens come from /me/accounts, not from a variable or file.
DISCOVERED = TokenSource(env="(discovered)")
# Where the README says how to get a Page token (tests/test_messages.py checks it exists).
GET_A_TOKEN = 'README.md, "Real setup", step 1 "Get a Page access token"'  # noqa: S105 - a pointer


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
    try:
        value = _read_value(source, environ).strip()
    except _UnreadableError as exc:
        return str(exc)
    problem = _token_problem(value)
    if problem is not None:
        return f"{source.describe()} {problem}"
    register_secret(value)
    return Secret(value)


class _UnreadableError(Exception):
    """The variable or file holding a token cannot be read; the message says why."""


# Why a token file cannot be read, most specific first.
_FILE_ERRORS: tuple[tuple[type[Exception], str], ...] = (
    (FileNotFoundError, "does not exist"),
    (IsADirectoryError, "is a directory"),
    (PermissionError, "cannot be read (permission denied)"),
    (UnicodeDecodeError, "is not text"),
)


def _read_value(source: TokenSource, environ: Mapping[str, str]) -> str:
    if source.env is not None:
        value = environ.get(source.env)
        if value is None:
            raise _UnreadableError(f"environment variable {source.env} is not set")
        return value
    assert source.file is not None
    try:
        # Bytes, then decoded: half the CPU of read_text (10 against 24 us a file, 10,000 files
        # at start-up); a line ending is stripped either way, any other is refused as a space.
        with Path(source.file).open("rb") as file:
            return file.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = next((text for kind, text in _FILE_ERRORS if isinstance(exc, kind)), None)
        if reason is None:
            reason = f"cannot be read ({getattr(exc, 'strerror', exc)})"
        raise _UnreadableError(f"token file {source.file} {reason}") from None


def _token_problem(value: str) -> str | None:
    """What is wrong with a token read from a variable or file, if anything."""
    if not value:
        return "is empty"
    if len(value.split()) > 1:  # split() cuts at what isspace() calls a space
        return "holds more than one word; it must hold just the token"
    if not value.isascii() or not value.isprintable():
        return "holds characters an access token cannot have"
    return None


def token_origin(source: TokenSource) -> str:
    """Where a Page token comes from, for messages: a variable or file name, never a value."""
    if source == DISCOVERED:
        return "Page discovery (/me/accounts with the discovery user token)"
    return source.describe()


def token_renewal(source: TokenSource) -> str:
    """What to do when the Page's token no longer works (Graph API error 190)."""
    where = token_origin(source)
    if source == DISCOVERED:
        return (f"the Page token from {where} no longer works: get a new user token ({GET_A_TOKEN}), "
                "put it where discovery.user_token says, then reload (SIGHUP or POST /-/reload)")
    if source.file is not None:
        return (f"the Page token from {where} no longer works: get a new one ({GET_A_TOKEN}), "
                "write it to that file, then reload (SIGHUP or POST /-/reload)")
    return (f"the Page token from {where} no longer works: get a new one ({GET_A_TOKEN}), "
            "then restart the exporter with the new value")


def user_token_renewal(source: TokenSource) -> str:
    """What to do when discovery's user token no longer works (Graph API error 190)."""
    then = ("write it to that file, then reload (SIGHUP or POST /-/reload)" if source.file is not None
            else "then restart the exporter with the new value")
    return (f"the discovery user token from {source.describe()} no longer works: get a new one "
            f"({GET_A_TOKEN}), {then}")
