"""`--web.config.file`: TLS and basic auth for /metrics, in the exporter-toolkit format.

The same file the Go exporters read:

    tls_server_config:
      cert_file: server.crt
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert
      client_ca_file: ca.crt
      min_version: TLS12
    basic_auth_users:
      prometheus: $2y$10$...   # htpasswd -nBC 10 "" | tr -d ':\\n'

Relative paths are read relative to the web config file.
"""

from __future__ import annotations

import hashlib
import hmac
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt

from exporter import yaml_source
from exporter.config import ConfigError
from exporter.config.fields import suggestion
from exporter.config.report import Report

TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
CLIENT_AUTH_TYPES = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
# Go's TLS can ask for a client certificate without verifying it; Python's cannot.
_UNSUPPORTED_CLIENT_AUTH = ("RequestClientCert", "RequireAnyClientCert")
_TLS_KEYS = ("cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version", "max_version")
_BCRYPT_PREFIXES = (b"$2a$", b"$2b$", b"$2y$")
_CACHE_LIMIT = 1024


@dataclass(frozen=True, slots=True)
class TlsSettings:
    cert_file: Path
    key_file: Path
    client_auth_type: str = "NoClientCert"
    client_ca_file: Path | None = None
    min_version: str = "TLS12"
    max_version: str | None = None

    def context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = TLS_VERSIONS[self.min_version]
        if self.max_version is not None:
            context.maximum_version = TLS_VERSIONS[self.max_version]
        context.load_cert_chain(self.cert_file, self.key_file)
        context.verify_mode = CLIENT_AUTH_TYPES[self.client_auth_type]
        if self.client_ca_file is not None:
            context.load_verify_locations(cafile=self.client_ca_file)
        return context


@dataclass(frozen=True, slots=True)
class WebConfig:
    tls: TlsSettings | None = None
    users: dict[str, bytes] = field(default_factory=dict)
    ssl_context: ssl.SSLContext | None = None


def load_web_config(path: str) -> WebConfig:
    """Read and check the file, including that the certificates load; ConfigError if not."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{source}: web config file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{source}: cannot read web config file: {exc}"]) from None
    try:
        document = yaml_source.parse(text, source)
    except yaml_source.YamlSourceError as exc:
        raise ConfigError([str(exc)]) from None
    return _WebConfigReader(document, source, Path(path).parent).read()


class _WebConfigReader:
    def __init__(self, document: yaml_source.Located, source: str, base: Path) -> None:
        self.doc = document
        self.base = base
        self.report = Report(document, source)

    def problem(self, path: yaml_source.Path, message: str) -> None:
        self.report.problem(path, message)

    def mapping(self, raw: Any, path: yaml_source.Path, allowed: tuple[str, ...]) -> dict[str, Any]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.problem(path, "must be a mapping")
            return {}
        for key in raw:
            if key not in allowed:
                self.problem((*path, key), f"unknown or unsupported key{suggestion(str(key), allowed)}")
        return {k: v for k, v in raw.items() if k in allowed}

    def read(self) -> WebConfig:
        top = self.mapping(self.doc.data, (), ("tls_server_config", "basic_auth_users"))
        tls = self.tls(top.get("tls_server_config")) if "tls_server_config" in top else None
        users = self.users(top.get("basic_auth_users"))
        context = None
        if tls is not None and not self.report.problems:
            try:
                context = tls.context()
            except (OSError, ssl.SSLError, ValueError) as exc:
                self.problem(("tls_server_config",), f"cannot load the certificate, key or CA: {exc}")
        if self.report.problems:
            raise ConfigError(self.report.problems)
        return WebConfig(tls, users, context)

    def file(self, section: dict[str, Any], key: str, path: yaml_source.Path) -> Path | None:
        value = section.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self.problem((*path, key), "must be a file path")
            return None
        file = Path(value.strip())
        file = file if file.is_absolute() else self.base / file
        if not file.is_file():
            self.problem((*path, key), f"{file} does not exist")
            return None
        return file

    def tls(self, raw: Any) -> TlsSettings | None:
        path: yaml_source.Path = ("tls_server_config",)
        section = self.mapping(raw, path, _TLS_KEYS)
        for key in ("cert_file", "key_file"):
            if key not in section:
                self.problem(path, f"{key} is required for TLS")
        cert_file = self.file(section, "cert_file", path)
        key_file = self.file(section, "key_file", path)
        ca = self.file(section, "client_ca_file", path)
        auth = section.get("client_auth_type", "NoClientCert")
        if auth in _UNSUPPORTED_CLIENT_AUTH:
            self.problem((*path, "client_auth_type"), f"{auth} is not supported (a client certificate "
                         "cannot be accepted unverified here); use VerifyClientCertIfGiven or "
                         "RequireAndVerifyClientCert with client_ca_file")
        elif auth not in CLIENT_AUTH_TYPES:
            self.problem((*path, "client_auth_type"), f"{auth!r} is not one of {', '.join(CLIENT_AUTH_TYPES)}")
        elif auth != "NoClientCert" and "client_ca_file" not in section:
            self.problem((*path, "client_auth_type"), f"{auth} needs client_ca_file")
        versions = {}
        for key_name, default in (("min_version", "TLS12"), ("max_version", None)):
            value = section.get(key_name, default)
            if value is not None and value not in TLS_VERSIONS:
                self.problem((*path, key_name), f"{value!r} is not one of {', '.join(TLS_VERSIONS)}")
                value = default
            versions[key_name] = value
        if cert_file is None or key_file is None or auth not in CLIENT_AUTH_TYPES:
            return None
        return TlsSettings(
            cert_file, key_file, auth, ca, versions["min_version"] or "TLS12", versions["max_version"]
        )

    def users(self, raw: Any) -> dict[str, bytes]:
        path: yaml_source.Path = ("basic_auth_users",)
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.problem(path, "must map user names to bcrypt hashes")
            return {}
        users = {}
        for user, hashed in raw.items():
            if not isinstance(hashed, str) or not hashed.encode().startswith(_BCRYPT_PREFIXES):
                self.problem((*path, user), "must be a bcrypt hash ($2y$..., as htpasswd -nBC 10 makes)")
                continue
            users[str(user)] = hashed.encode()
        return users


class BasicAuth:
    """Checks user and password against bcrypt hashes, remembering recent answers.

    bcrypt at cost 10 takes tens of milliseconds by design; Prometheus sends the same
    credentials every scrape, so a verified pair is remembered (by a keyed digest, never
    the password itself).
    """

    def __init__(self, users: dict[str, bytes]) -> None:
        self.users = users
        self._key = hashlib.sha256(b"".join(sorted(users.values()))).digest()
        self._dummy = bcrypt.hashpw(b"x", bcrypt.gensalt(4))
        self._cache: dict[bytes, bool] = {}
        self._lock = threading.Lock()

    def check(self, user: str, password: str) -> bool:
        digest = hmac.new(self._key, f"{user}\0{password}".encode(), hashlib.sha256).digest()
        with self._lock:
            known = self._cache.get(digest)
        if known is not None:
            return known
        hashed = self.users.get(user)
        try:
            ok = bcrypt.checkpw(password.encode(), hashed if hashed is not None else self._dummy)
        except ValueError:
            ok = False
        ok = ok and hashed is not None
        with self._lock:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[digest] = ok
        return ok
