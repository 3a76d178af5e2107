"""Settings shared by every service (prefix ``LOCKSTEP_``); each service adds its own class.

Built once at the entry point and passed in; nothing reads the environment deeper down.
Without ``LOCKSTEP_AMQP_URL`` and ``LOCKSTEP_DATABASE_URL`` Lockstep runs single-node: an
in-process bus and one SQLite file per service under ``var_dir``.
"""

from __future__ import annotations

import hmac
import json
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

INTERNAL_HEADER = "X-Lockstep-Internal"


def internal_token_refusal(configured: str, presented: str | None) -> str | None:
    """Why an internal route refuses a caller (a refusal code), or None when it may call."""
    if not configured:
        return "internal_api_disabled"
    if not presented:
        return "internal_token_missing"
    if not hmac.compare_digest(presented.encode(), configured.encode()):
        return "internal_token_wrong"
    return None


class LockstepSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOCKSTEP_", extra="ignore")

    amqp_url: str | None = Field(default=None, description="RabbitMQ URL; unset = in-process bus")
    database_url: str | None = Field(
        default=None, description="PostgreSQL URL; unset = SQLite files under var_dir"
    )
    bus_namespace: str = Field(
        default="lockstep",
        pattern=r"^[a-z0-9][a-z0-9_.-]*$",
        description="prefix of every exchange and queue name",
    )
    bus_shared_login: bool = Field(
        default=False,
        description="development only: every service logs in to RabbitMQ as the same user, so "
        "a consumer accepts messages from that user only (production: one user per service)",
    )
    var_dir: Path = Field(default=Path("var"), description="single-node data and artifacts")
    inbox_retention_s: float = Field(
        default=7 * 86400, ge=3600,
        description="inbox rows older than this are deleted (far past any broker redelivery)",
    )
    internal_token: str = Field(
        default="", description="shared secret of the calls between Lockstep's services "
        f"({INTERNAL_HEADER} header): the watcher's artifacts and site views, the gateway's "
        "code API; '' = those internal routes answer 503")
    forwarded_allow_ips: str = Field(
        default="",
        description="addresses or networks of trusted reverse proxies (comma-separated, CIDR "
                    "allowed, '*' = any): only "
                    "from these is a client address taken from X-Forwarded-For; empty = none",
    )
    log_level: str = "INFO"
    log_json: bool = True

    @property
    def distributed(self) -> bool:
        return self.amqp_url is not None

    def database_url_for(self, service: str) -> str:
        """The service's own database: its PostgreSQL schema, or its own SQLite file."""
        if self.database_url:
            return self.database_url
        self.var_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{(self.var_dir / f'{service}.db').resolve()}"


def comma_or_json_list(value: object) -> object:
    """An environment list setting: ``a, b`` or a JSON list (``["a","b"]``); other values as
    they are (for pydantic to check). Use in a ``field_validator(..., mode="before")``."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [item.strip() for item in text.split(",") if item.strip()]
    return value
