"""Settings of the installer agent (prefix ``LOCKSTEP_AGENT_``), one agent per site host."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from installer_agent.domain.command_templates import (
    INSTALLER_PLACEHOLDERS,
    VERSION_PLACEHOLDERS,
    check_template,
)
from lockstep_shared.settings import LockstepSettings, comma_or_json_list


class AgentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOCKSTEP_AGENT_", extra="ignore")

    site_id: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]{0,62}$",
        description="the one site this agent installs for (S3); it consumes only its commands",
    )
    installer_command: str = Field(
        default="sh tools/demo-host/install.sh {package} {version} {product}",
        description="installer command template; split like a shell would (shlex), then "
        "{package} {version} {product} {sha256} {update_id} {site_id} are substituted inside "
        "each argument. It is never run through a shell.",
    )
    version_command: str = Field(
        default="sh tools/demo-host/version.sh {product}",
        description="prints the version installed on this host; {product} {site_id} substituted",
    )
    backup_command: str | None = Field(
        default=None,
        description="run before the installer, same placeholders; if it fails nothing is "
        "installed (A3). Unset: no backup step",
    )
    restore_command: str | None = Field(
        default=None,
        description="run after a failed install, same placeholders (A5). Unset: none",
    )
    timeout_s: float = Field(default=1800, gt=0, description="the installer is killed after this")
    backup_timeout_s: float = Field(default=3600, gt=0)
    restore_timeout_s: float = Field(default=1800, gt=0)
    version_timeout_s: float = Field(default=60, gt=0)
    package_fetch_patience_s: float = Field(
        default=180, ge=0, description="how long the pre-flight waits for a release watcher "
        "that cannot be reached (restarting, a network blip) before the install fails")
    heartbeat_interval_s: float = Field(default=5, gt=0, description="while an install runs")
    idle_heartbeat_interval_s: float = Field(default=60, gt=0, description="while idle")
    artifacts_dir: Path | None = Field(
        default=None, description="artifact store; default <var_dir>/artifacts (the watcher's)"
    )
    state_dir: Path | None = Field(
        default=None,
        description="install logs and the detached installer's launch record, pids and exit "
        "status (installs/); default <var_dir>/agent",
    )
    working_dir: Path | None = Field(
        default=None, description="working directory of both commands; default the agent's"
    )
    command_env: dict[str, str] = Field(
        default_factory=dict,
        description="extra environment variables for both commands (JSON object)",
    )
    required_stopped_processes: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="desktop processes that must NOT be running for an install to start (A2), "
        "e.g. the product's client on the server host: names as the host shows them "
        "(ShopDesk.exe / shopdesk; case and .exe ignored). Env: a JSON list or comma-separated",
    )
    min_free_disk_mb: int | None = Field(
        default=None,
        ge=0,
        description="free disk (MB) needed on disk_check_dir for an install to start (A2); "
        "unset: twice the package size, at least 100 MB",
    )
    disk_check_dir: Path | None = Field(
        default=None,
        description="directory whose filesystem must have the free disk; default working_dir, "
        "else the agent's working directory",
    )
    trusted_root: Path | None = Field(
        default=None,
        description="the vendor's root.json this agent pins: every package is checked against "
        "the vendor's signed TUF metadata before it is downloaded (S4). Required unless "
        "insecure_unverified_installs",
    )
    feed_url: str | None = Field(
        default=None, description="the vendor's TUF feed (metadata/ and targets/ under it); "
        "needed with trusted_root",
    )
    orchestrator_url: str | None = Field(
        default=None, description="the orchestrator's base URL: before installing anything the "
        "agent asks it (internal API, LOCKSTEP_INTERNAL_TOKEN) whether the install command "
        "belongs to its site's update in the server-install phase. Required unless "
        "insecure_unverified_installs",
    )
    insecure_unverified_installs: bool = Field(
        default=False, description="DEVELOPMENT ONLY: run without trusted_root/feed_url or "
        "orchestrator_url, installing what an install command names with only the checks that "
        "are configured (a warning at start). Never in production: anyone able to publish on "
        "the bus could then make this host run any bytes",
    )
    metadata_dir: Path | None = Field(
        default=None, description="the agent's TUF metadata cache; default <var_dir>/agent/tuf"
    )
    log_tail_lines: int = Field(default=50, ge=1, le=10_000)
    host: str = "0.0.0.0"
    port: int = 8003

    @field_validator("installer_command", "backup_command", "restore_command")
    @classmethod
    def _installer_template(cls, value: str | None) -> str | None:
        if value is not None:
            check_template(value, INSTALLER_PLACEHOLDERS)
        return value

    @field_validator("required_stopped_processes", mode="before")
    @classmethod
    def _process_names(cls, value: object) -> object:
        return comma_or_json_list(value)

    @model_validator(mode="after")
    def _feed_with_root(self) -> AgentSettings:
        if self.trusted_root is not None and not self.feed_url:
            raise ValueError("LOCKSTEP_AGENT_TRUSTED_ROOT needs LOCKSTEP_AGENT_FEED_URL, the "
                             "vendor feed it verifies packages against")
        if self.insecure_unverified_installs:
            return self
        missing = [name for name, value in (
            ("LOCKSTEP_AGENT_TRUSTED_ROOT (the vendor's root.json) with "
             "LOCKSTEP_AGENT_FEED_URL", self.trusted_root),
            ("LOCKSTEP_AGENT_ORCHESTRATOR_URL", self.orchestrator_url)) if not value]
        if missing:
            raise ValueError(
                f"the agent installs only what it can verify: set {' and '.join(missing)}; "
                "LOCKSTEP_AGENT_INSECURE_UNVERIFIED_INSTALLS=true skips what is not set, for "
                "development only (README, Security)")
        return self

    @field_validator("version_command")
    @classmethod
    def _version_template(cls, value: str) -> str:
        check_template(value, VERSION_PLACEHOLDERS)
        return value

    def artifacts_path(self, common: LockstepSettings) -> Path:
        return self.artifacts_dir or common.var_dir / "artifacts"

    def state_path(self, common: LockstepSettings) -> Path:
        return self.state_dir or common.var_dir / "agent"

    def metadata_path(self, common: LockstepSettings) -> Path:
        return self.metadata_dir or self.state_path(common) / "tuf"

    def disk_path(self) -> Path:
        return self.disk_check_dir or self.working_dir or Path.cwd()


class MigrationSettings(AgentSettings):
    """``lockstep-installer-agent migrate`` only creates the agent's tables and installs
    nothing: it needs neither the vendor's root nor the orchestrator, which ``serve``
    requires."""

    insecure_unverified_installs: bool = True
