"""Release-watcher settings (prefix ``LOCKSTEP_WATCHER_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from lockstep_shared.settings import LockstepSettings


class WatcherSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOCKSTEP_WATCHER_", extra="ignore")

    feed_url: str = Field(
        default="http://127.0.0.1:9000",
        description="vendor TUF feed base URL; serves metadata/ and targets/",
    )
    trusted_root: Path | None = Field(
        default=None, description="pinned root.json of the vendor feed (required to check)"
    )
    metadata_dir: Path | None = Field(
        default=None, description="TUF client metadata cache; default <var_dir>/tuf"
    )
    artifacts_dir: Path | None = Field(
        default=None, description="verified package store; default <var_dir>/artifacts"
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="base URL other services use to reach /watcher/v1/artifacts/{sha256}",
    )
    internal_token: str = Field(
        default="", description="token of the internal routes (artifacts, site views); "
        "'' = LOCKSTEP_INTERNAL_TOKEN")
    default_check_interval_s: int = Field(default=14400, gt=0)
    retry_after_failure_s: int = Field(
        default=300, gt=0, description="next check after a failed one (capped by the interval)"
    )
    download_attempts: int = Field(default=3, ge=1, description="Range resumes within a check")
    scheduler_poll_s: float = Field(default=5.0, gt=0)
    host: str = "127.0.0.1"
    port: int = 8002

    def metadata_path(self, common: LockstepSettings) -> Path:
        return self.metadata_dir or common.var_dir / "tuf"

    def artifacts_path(self, common: LockstepSettings) -> Path:
        return self.artifacts_dir or common.var_dir / "artifacts"

    @property
    def metadata_url(self) -> str:
        return self.feed_url.rstrip("/") + "/metadata/"

    @property
    def targets_url(self) -> str:
        return self.feed_url.rstrip("/") + "/targets/"

    def artifact_url(self, sha256: str) -> str:
        return f"{self.public_url.rstrip('/')}/watcher/v1/artifacts/{sha256}"
