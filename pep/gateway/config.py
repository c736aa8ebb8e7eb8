"""``pep.toml``: read with the standard library's TOML parser and validated key by key (docs/pep.md, "Config").

Every problem is reported as :class:`ConfigError` naming the key (``listeners[0].upstream``), so a bad file
stops the process at start with a message an operator can act on, never half-way through serving.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class ConfigError(ValueError):
    """The configuration file is unusable; the message names the key."""


@dataclass(frozen=True)
class Listener:
    """One FIX listener: counterparties connect here, and allowed sessions are relayed to ``upstream``."""

    name: str
    host: str
    port: int
    target: str
    upstream_host: str
    upstream_port: int
    upstream_server_name: str
    logon_timeout_seconds: float
    max_body_length: int


@dataclass(frozen=True)
class Config:
    """The validated configuration; paths are absolute (relative ones are taken from the file's folder)."""

    name: str
    environment: str
    state_dir: Path
    max_bundle_age_seconds: int
    public_keys: tuple[Path, ...]
    ca_chain: Path
    certificate: Path
    private_key: Path
    control_host: str
    control_port: int
    console_url: str | None
    token_file: Path | None
    poll_interval_seconds: float
    request_timeout_seconds: float
    events_batch_size: int
    events_flush_interval_seconds: float
    spool_max_bytes: int
    listeners: tuple[Listener, ...] = field(default_factory=tuple)
    # Hold a non-person identity's step-up Logon this long for its sponsor's approval in the console; 0 = off.
    step_up_approval_seconds: float = 0.0


_SECTIONS = {
    "pep": {"name", "environment", "state_dir", "max_bundle_age_seconds", "public_keys"},
    "tls": {"ca_chain", "certificate", "private_key"},
    "control": {"listen"},
    "console": {
        "url",
        "token_file",
        "poll_interval_seconds",
        "request_timeout_seconds",
        "events_batch_size",
        "events_flush_interval_ms",
        "spool_max_bytes",
        "step_up_approval_seconds",
    },
}
_LISTENER_KEYS = {
    "name",
    "listen",
    "target",
    "upstream",
    "upstream_server_name",
    "logon_timeout_seconds",
    "max_body_length",
}


class _Reader:
    def __init__(self, base: Path) -> None:
        self.base = base

    def get(
        self, table: dict[str, Any], where: str, key: str, kind: type | tuple[type, ...], default: Any = ...
    ) -> Any:
        if key not in table:
            if default is ...:
                raise ConfigError(f"{where}.{key} is required")
            return default
        value = table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            names = " or ".join(k.__name__ for k in kinds)
            raise ConfigError(f"{where}.{key} must be a {names}, not {type(value).__name__} {value!r}")
        if isinstance(value, str) and not value.strip():
            raise ConfigError(f"{where}.{key} must not be empty")
        return value

    def number(self, table: dict[str, Any], where: str, key: str, default: Any, low: float, high: float) -> Any:
        value = self.get(table, where, key, (int, float) if isinstance(default, float) else int, default)
        if not low <= value <= high:
            raise ConfigError(f"{where}.{key} must be between {low} and {high}, not {value}")
        return value

    def path(self, table: dict[str, Any], where: str, key: str, *, must_exist: bool = True, default: Any = ...) -> Any:
        value = self.get(table, where, key, str, default)
        if value is None:
            return None
        path = (self.base / value).resolve()
        if must_exist and not path.is_file():
            raise ConfigError(f"{where}.{key}: no such file {path}")
        return path


def _address(value: str, where: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{where} must be host:port (e.g. 127.0.0.1:9876), not {value!r}")
    return host, int(port)


def _unknown(table: dict[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(table) - allowed)
    if extra:
        prefix = f"{where}." if where else ""
        raise ConfigError(f"unknown key {prefix}{extra[0]} (known: {', '.join(sorted(allowed))})")


def parse_config(text: str, base: Path) -> Config:
    """Validate ``text`` (TOML); relative paths are resolved against ``base``."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}") from exc
    _unknown(doc, set(_SECTIONS) | {"listeners"}, "")
    for section, keys in _SECTIONS.items():
        if not isinstance(doc.get(section, {}), dict):
            raise ConfigError(f"{section} must be a table ([{section}])")
        _unknown(doc.get(section, {}), keys, section)
    read = _Reader(base)
    pep, tls, control, console = (doc.get(s, {}) for s in ("pep", "tls", "control", "console"))
    if "pep" not in doc:
        raise ConfigError("pep is required: a [pep] table with name and environment")
    keys = read.get(pep, "pep", "public_keys", list)
    if not keys or not all(isinstance(k, str) for k in keys):
        raise ConfigError("pep.public_keys must list at least one PEM file of the policy signing key")
    public_keys = tuple(read.path({"public_keys": k}, "pep", "public_keys") for k in keys)
    url = read.get(console, "console", "url", str, None)
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"console.url must be an http:// or https:// URL, not {url!r}")
        url = url.rstrip("/")
    token_file = read.path(console, "console", "token_file", default=None)
    if url is not None and token_file is None:
        raise ConfigError("console.token_file is required when console.url is set (the PEP's bearer token)")
    listeners_raw = doc.get("listeners", [])
    if not isinstance(listeners_raw, list) or not listeners_raw:
        raise ConfigError("listeners is required: at least one [[listeners]] table")
    listeners = []
    for index, item in enumerate(listeners_raw):
        where = f"listeners[{index}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where} must be a table")
        _unknown(item, _LISTENER_KEYS, where)
        host, port = _address(read.get(item, where, "listen", str), f"{where}.listen")
        up_host, up_port = _address(read.get(item, where, "upstream", str), f"{where}.upstream")
        listeners.append(
            Listener(
                name=read.get(item, where, "name", str, f"listener-{index}"),
                host=host,
                port=port,
                target=read.get(item, where, "target", str),
                upstream_host=up_host,
                upstream_port=up_port,
                upstream_server_name=read.get(item, where, "upstream_server_name", str, up_host),
                logon_timeout_seconds=read.number(item, where, "logon_timeout_seconds", 10.0, 0.1, 300),
                max_body_length=read.number(item, where, "max_body_length", 16384, 64, 1 << 20),
            )
        )
    names = [listener.name for listener in listeners]
    if len(set(names)) != len(names):
        raise ConfigError("listeners[].name must be unique")
    control_host, control_port = _address(read.get(control, "control", "listen", str), "control.listen")
    approval = read.number(console, "console", "step_up_approval_seconds", 0.0, 0, 300)
    if approval and url is None:
        raise ConfigError("console.step_up_approval_seconds needs console.url (the sponsor approves in the console)")
    for index, listener in enumerate(listeners):
        if approval > listener.logon_timeout_seconds:
            raise ConfigError(
                f"console.step_up_approval_seconds ({approval:g}) must not exceed listeners[{index}]"
                f".logon_timeout_seconds ({listener.logon_timeout_seconds:g})"
            )
    return Config(
        name=read.get(pep, "pep", "name", str),
        environment=read.get(pep, "pep", "environment", str),
        state_dir=(base / read.get(pep, "pep", "state_dir", str)).resolve(),
        max_bundle_age_seconds=read.number(pep, "pep", "max_bundle_age_seconds", 86400, 1, 365 * 86400),
        public_keys=public_keys,
        ca_chain=read.path(tls, "tls", "ca_chain"),
        certificate=read.path(tls, "tls", "certificate"),
        private_key=read.path(tls, "tls", "private_key"),
        control_host=control_host,
        control_port=control_port,
        console_url=url,
        token_file=token_file,
        poll_interval_seconds=read.number(console, "console", "poll_interval_seconds", 30.0, 0.05, 86400),
        request_timeout_seconds=read.number(console, "console", "request_timeout_seconds", 5.0, 0.1, 120),
        events_batch_size=read.number(console, "console", "events_batch_size", 500, 1, 100_000),
        events_flush_interval_seconds=read.number(console, "console", "events_flush_interval_ms", 200, 1, 60_000)
        / 1000,
        spool_max_bytes=read.number(console, "console", "spool_max_bytes", 64 << 20, 4096, 1 << 40),
        listeners=tuple(listeners),
        step_up_approval_seconds=float(approval),
    )


def check_together(configs: list[Config]) -> None:
    """Several enforcement points in one process (``serve --config a.toml --config b.toml``) must not collide: each
    has its own name, state directory and ports (port 0, chosen at bind, never collides)."""
    seen: dict[Any, str] = {}
    for config in configs:
        claims = [("name", config.name), ("state_dir", config.state_dir)]
        addresses = [("control.listen", config.control_host, config.control_port)]
        addresses += [(f"listener {item.name}", item.host, item.port) for item in config.listeners]
        claims += [(where, port) for where, _host, port in addresses if port]
        for what, value in claims:
            key = ("port", value) if what not in ("name", "state_dir") else (what, value)
            owner = f"{config.name}: {what}"
            if key in seen:
                raise ConfigError(f"{owner} {value} is also {seen[key]}'s: each enforcement point needs its own")
            seen[key] = owner


def load_config(path: str | Path) -> Config:
    """Read and validate a config file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8: {exc}") from exc
    return parse_config(text, path.resolve().parent)
