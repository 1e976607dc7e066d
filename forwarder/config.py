"""The forwarder's settings, read from the environment (systemd's ``EnvironmentFile``)."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from forwarder import ConfigError

APP_URL = "FOREWARN_FORWARDER_APP_URL"
KEY = "FOREWARN_FORWARDER_KEY"
IMDS_URL = "FOREWARN_FORWARDER_IMDS_URL"
STATE_FILE = "FOREWARN_FORWARDER_STATE"
POLL_SECONDS = "FOREWARN_FORWARDER_POLL_SECONDS"
DRAIN_COMMAND = "FOREWARN_FORWARDER_DRAIN_COMMAND"
DRAIN_TIMEOUT = "FOREWARN_FORWARDER_DRAIN_TIMEOUT_SECONDS"
MAX_BACKOFF = "FOREWARN_FORWARDER_MAX_BACKOFF_SECONDS"

# The link-local address every Azure VM reaches its own IMDS on; tests point it at a stand-in.
DEFAULT_IMDS_URL = "http://169.254.169.254"
DEFAULT_STATE_FILE = "/var/lib/forewarn-forwarder/state.json"
# Microsoft recommends polling once per second: a Preempt gives only 30 s of notice.
DEFAULT_POLL_SECONDS = 1.0
DEFAULT_DRAIN_TIMEOUT = 600.0  # a drain must end well before NotBefore (15 min for a Reboot)
DEFAULT_MAX_BACKOFF = 60.0
MIN_KEY_LENGTH = 12  # as the app's alerts key


@dataclass(frozen=True)
class Settings:
    app_url: str
    key: str
    imds_url: str = DEFAULT_IMDS_URL
    state_file: Path = Path(DEFAULT_STATE_FILE)
    poll_seconds: float = DEFAULT_POLL_SECONDS
    drain_command: tuple[str, ...] = ()
    drain_timeout: float = DEFAULT_DRAIN_TIMEOUT
    max_backoff: float = DEFAULT_MAX_BACKOFF

    @property
    def post_url(self) -> str:
        return self.app_url.rstrip("/") + "/api/scheduled-events"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        app_url = env.get(APP_URL, "").strip()
        if not app_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"{APP_URL} must be the app's address, e.g. https://NAME.azurewebsites.net"
            )
        key = env.get(KEY, "").strip()
        if len(key) < MIN_KEY_LENGTH:
            raise ConfigError(
                f"{KEY} must be set to the app's scheduled-events key "
                f"({MIN_KEY_LENGTH}+ characters)"
            )
        return cls(
            app_url=app_url,
            key=key,
            imds_url=env.get(IMDS_URL, "").strip() or DEFAULT_IMDS_URL,
            state_file=Path(env.get(STATE_FILE, "").strip() or DEFAULT_STATE_FILE),
            poll_seconds=_positive(env, POLL_SECONDS, DEFAULT_POLL_SECONDS),
            drain_command=tuple(shlex.split(env.get(DRAIN_COMMAND, ""))),
            drain_timeout=_positive(env, DRAIN_TIMEOUT, DEFAULT_DRAIN_TIMEOUT),
            max_backoff=_positive(env, MAX_BACKOFF, DEFAULT_MAX_BACKOFF),
        )


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be more than 0, not {raw!r}")
    return value
