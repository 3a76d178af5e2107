"""Settings of the device gateway (prefix ``LOCKSTEP_GATEWAY_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from lockstep_shared.settings import comma_or_json_list


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOCKSTEP_GATEWAY_", extra="ignore")

    host: str = "0.0.0.0"
    port: int = 8001
    public_url: str | None = Field(
        default=None, description="how devices reach this gateway, e.g. https://gw.example.com"
    )
    artifacts_dir: Path | None = Field(
        default=None, description="artifact store; default <LOCKSTEP_VAR_DIR>/artifacts"
    )
    long_poll_max_s: float = Field(default=30.0, gt=0, le=300)
    presence_interval_s: float = Field(
        default=30.0, gt=0, le=600, description="how often the gateway tells the orchestrator "
        "which devices polled it (the grid's \"online now\"; keep it near LONG_POLL_MAX_S)")
    delivery_deadline_s: float = Field(default=60.0, gt=0)
    sweep_interval_s: float = Field(default=1.0, gt=0)
    token_cache_ttl_s: float = Field(default=5.0, ge=0)
    db_pool_size: int = Field(
        default=20, ge=1, description="PostgreSQL connections, all kept open (no overflow: "
        "reopening a connection costs more than waiting a moment for a pooled one)")
    max_body_bytes: int = Field(
        default=4096, ge=256, le=1 << 20,
        description="largest request body of the device and internal APIs (413 above it)")
    internal_token: str = Field(
        default="", description="shared secret of the internal API (X-Lockstep-Internal) the "
        "orchestrator uses for manual codes, also sent to fetch packages from the watcher; "
        "empty = LOCKSTEP_INTERNAL_TOKEN; both empty = internal API disabled (503)")
    ddi_poll_s: float = Field(
        default=30.0, ge=1, le=86_399, description="config.polling.sleep of the DDI controller "
        "API: how often hawkBit agents (rauc-hawkbit; SWUpdate polls as its -p says) ask what "
        "to do. A poll acknowledges START/END/ERROR UPDATE: keep it below "
        "DELIVERY_DEADLINE_S")
    ddi_max_body_bytes: int = Field(
        default=65536, ge=1024, le=1 << 20,
        description="largest request body of the DDI controller API (feedback details lines)")
    staging_slots_per_site: int = Field(
        default=4, ge=1, le=1000, description="devices of one site that may download the "
        "site's next release in the background at once (staging: a shop's Wi-Fi is shared)")
    staging_slot_s: int = Field(
        default=120, ge=5, le=3600, description="a staging slot ends this long after the "
        "device last asked for it (a device that vanished frees it)")
    retired_protocols: Annotated[frozenset[str], NoDecode] = Field(
        default=frozenset(), description="device protocol versions this gateway no longer "
        "serves (e.g. v1): every request under /device/<version> answers 410 protocol_retired, "
        "telling the operator to update the app. Env: comma-separated or a JSON list")

    @field_validator("retired_protocols", mode="before")
    @classmethod
    def _versions(cls, value: object) -> object:
        return comma_or_json_list(value)
