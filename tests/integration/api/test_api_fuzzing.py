"""The published OpenAPI documents tell the truth (issue 10 §4, issue 11 §2): a bounded
``schemathesis run --checks all`` against a real single-node Lockstep, once per API with its own
credentials, finds no undocumented status code, no response that breaks its schema, no
schema-violating request accepted and no 5xx.

schemathesis generates requests from ``docs/openapi/{device,ddi,admin}-v1.json`` (what a client
developer reads), so a drift between the documents and the code fails here as well as in the
drift test. The run is bounded (a few examples per operation, deterministic) to stay within a
couple of minutes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
PASSWORD = "fuzzing-support-password"
EXAMPLES = 5  # per operation and phase: a few hundred requests per API
# The coverage phase (every boundary of every field, over a thousand cases for the admin API)
# is left to a manual `schemathesis run`: this run must stay within a couple of minutes.
PHASES = "examples,fuzzing,stateful"
# - the long-poll is asked not to wait (it would hold every generated request 25 s); the
#   stream is read for one event;
# - a body over its route's limit is rejected with 413 (body_too_large), before validation;
# - requests that are valid by the schema but wrong by the rules (a wrong confirmation code,
#   an update opened without confirmed backups) are refused 422 with their own code, never
#   invalid_request; 5xx is never expected (not_a_server_error).
CONFIG = """
request-timeout = 10
max-stream-events = 1

[parameters]
"query.wait" = 0

[generation]
deterministic = true

[checks.negative_data_rejection]
expected-statuses = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]

[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", 401, 403, 404, 409, 410, 422, 429]
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def lockstep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """lockstep-node (single-node: SQLite, the in-process bus) with a support account, a site
    and a registered device."""
    var = tmp_path_factory.mktemp("fuzzing")
    env = {**os.environ, "LOCKSTEP_VAR_DIR": str(var / "var"), "LOCKSTEP_LOG_JSON": "false",
           "LOCKSTEP_LOG_LEVEL": "WARNING", "LOCKSTEP_ORCHESTRATOR_ARGON2_TIME_COST": "1",
           "LOCKSTEP_ORCHESTRATOR_ARGON2_MEMORY_KIB": "64"}
    for name in ("LOCKSTEP_AMQP_URL", "LOCKSTEP_DATABASE_URL", "LOCKSTEP_AGENT_SITE_ID"):
        env.pop(name, None)
    subprocess.run([BIN / "lockstep-orchestrator", "create-user", "sam", "--role", "support",
                    "--password-stdin"], input=PASSWORD, text=True, env=env, check=True,
                   capture_output=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (var / "node.log").open("w")
    node = subprocess.Popen([BIN / "lockstep-node", "--port", str(port)], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180  # a loaded CI machine starts it slowly
        while True:
            with contextlib.suppress(httpx.HTTPError):  # not listening yet
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            assert node.poll() is None and time.monotonic() < deadline, "node did not start"
            time.sleep(0.2)
        with httpx.Client(base_url=base, timeout=10) as http:
            session = http.post("/api/v1/sessions", json={"username": "sam",
                                                           "password": PASSWORD})
            admin = {"Authorization": f"Bearer {session.json()['token']}"}
            site = http.post("/api/v1/sites", headers=admin, json={
                "site_id": "shop-1", "name": "Shop 1", "license_key": "LIC-1",
                "enrolment_code": "enrol-1",
                "products": [{"product": "shop", "version": "03.01.00_030"}]})
            assert site.status_code == 201, site.text
            device = None
            for _ in range(100):  # the gateway learns of the site from the bus
                device = http.post("/device/v1/registrations", json={
                    "site_id": "shop-1", "enrolment_code": "enrol-1", "serial": "SN-FUZZ",
                    "model": "TC52", "app_version": "03.01.00_030"})
                if device.status_code == 201:
                    break
                time.sleep(0.1)
            assert device is not None and device.status_code == 201, device and device.text
            ddi = http.post("/device/v1/registrations", json={
                "site_id": "shop-1", "enrolment_code": "enrol-1", "serial": "SN-DDI",
                "model": "TC52", "app_version": "03.01.00_030", "agent": "ddi"})
            assert ddi.status_code == 201, ddi.text
        yield {"url": base, "admin": admin["Authorization"],
               "device": f"Bearer {device.json()['device_token']}",
               "ddi": f"TargetToken {ddi.json()['device_token']}", "dir": str(var)}
    finally:
        node.terminate()
        node.wait(timeout=30)
        log.close()


def fuzz(lockstep: dict[str, str], document: str, credentials: str, *extra: str,
         parameters: str = "") -> None:
    config = Path(lockstep["dir"]) / "schemathesis.toml"
    config.write_text(CONFIG.replace("[parameters]\n", "[parameters]\n" + parameters))
    command = [str(BIN / "schemathesis"), "--config-file", str(config), "run",
               str(ROOT / "docs" / "openapi" / document), "--url", lockstep["url"],
               "--checks", "all", "--max-examples", str(EXAMPLES), "--phases", PHASES,
               "--header", f"Authorization: {credentials}", "--no-color", *extra]
    assert shutil.which(command[0]), "schemathesis is a dev dependency: uv sync"
    run = subprocess.run(command, capture_output=True, text=True, timeout=170,
                         cwd=lockstep["dir"])
    assert run.returncode == 0, run.stdout[-15000:] + run.stderr[-3000:]
    counted = re.search(r"(\d+) generated", run.stdout)
    assert counted and int(counted.group(1)) <= 800, "a bounded run: a few hundred examples"


def test_the_device_api_is_what_its_document_says(lockstep: dict[str, str]) -> None:
    fuzz(lockstep, "device-v1.json", lockstep["device"])


def test_the_admin_api_is_what_its_document_says(lockstep: dict[str, str]) -> None:
    # logging out would end the run's own session halfway
    fuzz(lockstep, "admin-v1.json", lockstep["admin"],
         "--exclude-path", "/api/v1/sessions/current")


def test_the_ddi_api_is_what_its_document_says(lockstep: dict[str, str]) -> None:
    # the registered DDI device's own resources, so requests get past authentication
    fuzz(lockstep, "ddi-v1.json", lockstep["ddi"],
         parameters='"path.tenant" = "shop-1"\n"path.controllerId" = "SN-DDI"\n')


def test_the_documents_are_json(lockstep: dict[str, str]) -> None:
    for name in ("device-v1.json", "ddi-v1.json", "admin-v1.json"):
        assert json.loads((ROOT / "docs" / "openapi" / name).read_text())["paths"]
