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
    default_check_interval_s: int = Field(
        default=4 * 3600, gt=0, description="release check interval of a new site (R3)"
    )
    prefetch: int = Field(default=100, ge=1, description="bus consumer prefetch")
