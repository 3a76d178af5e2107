"""Orchestrator settings (prefix ``LOCKSTEP_ORCHESTRATOR_``), built once at the entry point."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class OrchestratorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOCKSTEP_ORCHESTRATOR_", extra="ignore")

    host: str = "0.0.0.0"
    port: int = Field(default=8000, ge=1, le=65535)
    agent_silence_s: float = Field(
        default=60.0, gt=0,
        description="phase 2: an agent silent this long is shown as 'not responding' (U8)",
    )
    device_online_s: float = Field(
        default=75.0, gt=0, description="a device heard from within this long is 'online now' "
        "in the grid (the gateway reports polling devices every 30 s: "
        "LOCKSTEP_GATEWAY_PRESENCE_INTERVAL_S), else 'last seen …' (U3)")
    default_check_interval_s: int = Field(
        default=4 * 3600, gt=0, description="release check interval of a new site (R3)"
    )
    prefetch: int = Field(default=100, ge=1, description="bus consumer prefetch")
    db_pool_size: int = Field(
        default=20, ge=1, description="PostgreSQL connections, all kept open (no overflow: "
        "reopening a connection costs more than waiting a moment for a pooled one)")
    gateway_url: str | None = Field(
        default=None, description="device gateway base URL for the internal code API (U5, D8)"
    )
    internal_token: str = Field(
        default="", description="shared secret for the gateway's internal API; "
        "'' = LOCKSTEP_INTERNAL_TOKEN; both '' = disabled"
    )
    max_body_bytes: int = Field(
        default=8192, ge=1024, le=1 << 20,
        description="largest request body of the admin API (413 above it), but for:")
    max_site_body_bytes: int = Field(
        default=65536, ge=1024, le=1 << 22,
        description="largest body of POST /api/v1/sites (a site with its products)")
    support_url: str | None = Field(
        default=None, description="vendor support endpoint receiving failure reports (U12)"
    )
    support_poll_s: float = Field(default=2.0, gt=0, description="report delivery worker poll")
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=64)
    watchdog_push_deadline_s: float = Field(
        default=120.0, gt=0,
        description="a START/END/ERROR push whose target devices still have no outcome "
        "(delivered or not delivered) this long after it was sent is sent again; keep it "
        "above the gateway's LOCKSTEP_GATEWAY_DELIVERY_DEADLINE_S")
    watchdog_install_start_s: float = Field(
        default=120.0, gt=0,
        description="an install request the agent has not reported started this long after "
        "it was sent is sent again")
    watchdog_max_reissues: int = Field(
        default=3, ge=0, description="re-sends of one command before it is shown as stuck")
    watchdog_interval_s: float = Field(default=10.0, gt=0,
                                       description="how often the saga watchdog looks")
