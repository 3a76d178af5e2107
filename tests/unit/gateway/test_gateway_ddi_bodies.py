"""DDI bodies (D14): what SWUpdate and rauc-hawkbit really send parses; what they are shown has
the fields they need. The agents' bodies below were recorded from Debian's swupdate 2022.12 and
rauc-hawkbit 0.2.0 talking to a recording server."""

from __future__ import annotations

import json
import re

import pytest
from pydantic import ValidationError

from device_gateway.domain.ddi import Digests, Handling, Purpose, Waiting, decide_deployment
from device_gateway.domain.updates import Package, Phase, SiteUpdate
from device_gateway.entrypoints.ddi_schemas import (
    ConfigDataBody,
    FeedbackBody,
    Links,
    artifact_filename,
    base_resource,
    cancel_resource,
    deployment_resource,
    md5sum_file,
)

SWUPDATE_FEEDBACK = """{ "id": 7, "time": "20261203T100808", "status": { "result": { "progress":
{ "cnt" : 0, "of" : 1 }, "finished": "none" }, "execution": "proceeding", "details" : [
"Installing Update Chunk Artifacts." ] } }"""
SWUPDATE_INSTALLED = """{ "id": 7, "time": "20261203T100829", "status": { "result": {
"progress": { "cnt" : 0, "of" : 0 }, "finished": "success" }, "execution": "closed",
"details" : [ "Update Installed." ] } }"""
SWUPDATE_CONFIG = """{ "id": "", "time": "20261203T100805", "status": { "result": { "finished":
"success" }, "execution": "closed", "details" : [ "" ] }, "data" : {  "model":
"handheld","app_version": "03.01.00_030" } }"""
RAUC_PROGRESS = """{"id": "7", "time": "20261203T101015", "status": {"result": {"progress":
{"percentage": 100}, "finished": "none"}, "execution": "proceeding", "details":
["Installing done (03.01.00_031)"]}}"""
RAUC_CONFIG = """{"id": "", "time": "20261203T101015", "status": {"result": {"finished":
"success"}, "execution": "closed", "details": []}, "data": {"MAC": "ff:ff:ff:ff:ff:01"}}"""


def test_what_the_agents_send_parses() -> None:
    progress = FeedbackBody.model_validate_json(SWUPDATE_FEEDBACK)
    assert (progress.status.execution, progress.status.result.finished) == ("proceeding", "none")
    assert progress.status.details == ["Installing Update Chunk Artifacts."]
    installed = FeedbackBody.model_validate_json(SWUPDATE_INSTALLED)
    assert (installed.status.execution, installed.status.result.finished) == (
        "closed", "success")
    assert FeedbackBody.model_validate_json(RAUC_PROGRESS).status.result.progress == {
        "percentage": 100}
    config = ConfigDataBody.model_validate_json(SWUPDATE_CONFIG)
    assert config.data == {"model": "handheld", "app_version": "03.01.00_030"}
    assert config.mode == "merge"
    assert ConfigDataBody.model_validate_json(RAUC_CONFIG).data == {"MAC": "ff:ff:ff:ff:ff:01"}


@pytest.mark.parametrize("body", [
    {"status": {"execution": "done", "result": {"finished": "success"}}},
    {"status": {"execution": "closed", "result": {"finished": "ok"}}},
    {"status": {"execution": "closed"}},
    {"id": 7},
])
def test_a_feedback_that_is_not_ddi_is_refused(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        FeedbackBody.model_validate(body)


def test_config_data_needs_attributes() -> None:
    with pytest.raises(ValidationError):
        ConfigDataBody.model_validate({"data": {}})


# --- what the agents are shown ------------------------------------------------------------

PKG = Package("shop", "03.01.00_031", "c" * 64, 2560, "http://watcher/c")
DIGESTS = Digests("a" * 40, "b" * 32, "c" * 64)
LINKS = Links("http://gw:8001/shop-1/controller/v1/dev-1")


def deployment(phase: Phase) -> dict[str, object]:
    shown = decide_deployment(SiteUpdate("u1", phase, PKG), app_version="03.01.00_030",
                              waiting=Waiting.STAGED)
    assert shown is not None
    filename = artifact_filename(PKG.product, PKG.version, ".swu")
    return deployment_resource(LINKS, 7, shown, digests=DIGESTS, filename=filename)


def test_the_base_resource_links_what_rauc_hawkbit_parses() -> None:
    base = base_resource(LINKS, sleep="00:00:02", deployment=(7, "abc123"), config_data=True)
    assert base["config"] == {"polling": {"sleep": "00:00:02"}}
    href = base["_links"]["deploymentBase"]["href"]
    assert re.search(r"/deploymentBase/(.+)\?c=(.+)$", href).groups() == ("7", "abc123")  # type: ignore[union-attr]
    assert base["_links"]["configData"]["href"] == LINKS.base + "/configData"
    cancelling = base_resource(LINKS, sleep="00:00:02", deployment=(7, "abc"), cancel=7)
    assert set(cancelling["_links"]) == {"cancelAction"}  # one action at a time
    assert base_resource(LINKS, sleep="00:01:00")["_links"] == {}


def test_the_deployment_has_what_swupdate_and_rauc_hawkbit_need() -> None:
    shown = json.loads(json.dumps(deployment(Phase.RELEASED)))
    assert shown["id"] == "7"
    body = shown["deployment"]
    assert (body["download"], body["update"], body["maintenanceWindow"]) == (
        "forced", "forced", "available")
    chunk = body["chunks"][0]
    assert (chunk["part"], chunk["name"], chunk["version"]) == ("os", "shop", "03.01.00_031")
    artifact = chunk["artifacts"][0]
    assert artifact["filename"].endswith(".swu")  # SWUpdate installs only .swu artifacts
    assert artifact["size"] == 2560 and isinstance(artifact["size"], int)
    assert artifact["hashes"] == {"sha1": "a" * 40, "md5": "b" * 32, "sha256": "c" * 64}
    href = artifact["_links"]["download-http"]["href"]
    assert artifact["_links"]["download"]["href"] == href
    assert re.search(r"/softwaremodules/(.+)/artifacts/(.+)$", href).groups() == (  # type: ignore[union-attr]
        "7", "shop-03.01.00_031.swu")
    assert artifact["_links"]["md5sum-http"]["href"] == href + ".MD5SUM"


def test_phase_1_shows_a_staging_deployment() -> None:
    body = deployment(Phase.PREPARING)["deployment"]
    assert (body["download"], body["update"], body["maintenanceWindow"]) == (  # type: ignore[index]
        Handling.FORCED.value, Handling.SKIP.value, "unavailable")


def test_a_deployment_without_window_has_no_window_field() -> None:
    shown = decide_deployment(None, app_version="1", waiting=Waiting.ADMIN, site_package=PKG)
    assert shown is not None and shown.purpose is Purpose.SITE_VERSION
    body = deployment_resource(LINKS, 8, shown, digests=DIGESTS, filename="shop.swu")
    assert "maintenanceWindow" not in body["deployment"]


def test_cancel_and_md5sum() -> None:
    assert cancel_resource(7) == {"id": "7", "cancelAction": {"stopId": "7"}}
    assert md5sum_file(DIGESTS, "shop.swu") == f"{'b' * 32}  shop.swu\n"
