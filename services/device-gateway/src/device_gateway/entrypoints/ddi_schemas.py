"""Bodies of the hawkBit DDI v1 controller API (D14): what agents send, what they are shown.

What agents send is read leniently, as hawkBit does (``ignoreUnknown``): SWUpdate and
rauc-hawkbit still send hawkBit's older ``id`` and ``time`` fields, rauc-hawkbit's progress is
``{"percentage": n}``; the fields Lockstep acts on (``status.execution``,
``status.result.finished``, ``details``, configData's ``data``) are checked strictly, and a
wrong one is refused with what was wrong (S5).

What agents are shown follows hawkBit's resource shapes: both agents read only some fields,
but they need those exactly (SWUpdate: ``config.polling.sleep`` as ``HH:MM:SS``, artifacts'
``filename`` ending ``.swu``, ``hashes.sha1``, an integer ``size``, ``download`` or
``download-http``; rauc-hawkbit: a deploymentBase link ending ``?c=…``, ``hashes.md5``, a download
link ending ``/softwaremodules/{id}/artifacts/{filename}``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from device_gateway.domain.ddi import Deployment, Digests


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class FeedbackResult(_Lenient):
    finished: Literal["success", "failure", "none"]
    progress: dict[str, Any] | None = None


class FeedbackStatus(_Lenient):
    execution: Literal["closed", "proceeding", "canceled", "scheduled", "rejected", "resumed",
                       "downloaded", "download"]
    result: FeedbackResult
    code: int | None = None
    details: list[Annotated[str, Field(max_length=4000)]] = Field(default_factory=list,
                                                                   max_length=1000)


class FeedbackBody(_Lenient):
    """``POST …/deploymentBase/{id}/feedback`` and ``…/cancelAction/{id}/feedback``."""

    status: FeedbackStatus
    # hawkBit's older body; the path's action id is the one used
    id: Annotated[int, Field(ge=0, le=2**53)] | Annotated[str, Field(max_length=64)] | None = None
    time: str | None = Field(default=None, max_length=64)
    timestamp: int | None = Field(default=None, ge=0, le=2**63 - 1)


class ConfigDataBody(_Lenient):
    """``PUT …/configData``: the device's attributes."""

    data: dict[Annotated[str, Field(min_length=1, max_length=128)],
               Annotated[str, Field(max_length=1024)]] = Field(min_length=1, max_length=200)
    mode: Literal["merge", "replace", "remove"] = "merge"


# --- what agents are shown -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Links:
    """Absolute URLs of one device's DDI resources."""

    base: str  # {public}/{tenant}/controller/v1/{controllerId}

    def deployment(self, action_id: int, resource: str) -> str:
        return f"{self.base}/deploymentBase/{action_id}?c={resource}"

    def cancel(self, action_id: int) -> str:
        return f"{self.base}/cancelAction/{action_id}"

    def config_data(self) -> str:
        return f"{self.base}/configData"

    def artifact(self, module_id: int, filename: str) -> str:
        return f"{self.base}/softwaremodules/{module_id}/artifacts/{filename}"


def base_resource(links: Links, *, sleep: str, deployment: tuple[int, str] | None = None,
                  cancel: int | None = None, config_data: bool = False) -> dict[str, Any]:
    """``GET /{tenant}/controller/v1/{controllerId}``. A cancel hides the deployment (hawkBit
    shows one action at a time)."""
    linked: dict[str, Any] = {}
    if cancel is not None:
        linked["cancelAction"] = {"href": links.cancel(cancel)}
    elif deployment is not None:
        linked["deploymentBase"] = {"href": links.deployment(*deployment)}
    if config_data:
        linked["configData"] = {"href": links.config_data()}
    return {"config": {"polling": {"sleep": sleep}}, "_links": linked}


def artifact_filename(product: str, version: str, suffix: str) -> str:
    return f"{product}-{version}{suffix}"


def deployment_resource(links: Links, action_id: int, deployment: Deployment, *,
                        digests: Digests, filename: str) -> dict[str, Any]:
    """``GET …/deploymentBase/{actionId}``: one chunk, one artifact (the package)."""
    package = deployment.package
    href = links.artifact(action_id, filename)
    shown: dict[str, Any] = {
        "download": deployment.download.value,
        "update": deployment.update.value,
        "chunks": [{
            "part": "os",
            "version": package.version,
            "name": package.product,
            "artifacts": [{
                "filename": filename,
                "hashes": {"sha1": digests.sha1, "md5": digests.md5, "sha256": digests.sha256},
                "size": package.size,
                "_links": {"download": {"href": href}, "download-http": {"href": href},
                           "md5sum": {"href": href + ".MD5SUM"},
                           "md5sum-http": {"href": href + ".MD5SUM"}},
            }],
        }],
    }
    if deployment.maintenance_window is not None:
        shown["maintenanceWindow"] = deployment.maintenance_window
    return {"id": str(action_id), "deployment": shown}


def cancel_resource(action_id: int) -> dict[str, Any]:
    """``GET …/cancelAction/{actionId}``: the action to stop is the action itself."""
    return {"id": str(action_id), "cancelAction": {"stopId": str(action_id)}}


def md5sum_file(digests: Digests, filename: str) -> str:
    """``….MD5SUM``: the format of ``md5sum``."""
    return f"{digests.md5}  {filename}\n"
