"""``lockstep fleet sites|release|failed``, the real executable against a real orchestrator on
RabbitMQ and PostgreSQL: vendor support sees every site (filters, CSV), one release across the
fleet; an admin of every site is refused."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from lockstep_shared.bus.port import Outgoing
from lockstep_shared.bus.rabbit import RabbitBus
from lockstep_shared.catalogue import PackageRef, ReleaseDownloaded
from lockstep_shared.message_factory import MessageFactory
from orchestrator.bootstrap import OrchestratorService
from orchestrator.domain.accounts import Account, Role

from .test_cli_against_node import Cli
from .test_cli_dead_letters import PASSWORD, served  # noqa: F401  (the fixture)

pytestmark = pytest.mark.integration
NEW = "03.01.00_031"


async def test_support_reads_the_fleet_from_the_command_line(
        served: tuple[OrchestratorService, RabbitBus, str], tmp_path: Path) -> None:  # noqa: F811
    orchestrator, bus, url = served
    handlers = orchestrator.handlers
    vendor = Account("vera", Role.SUPPORT)
    for site_id in ("shop-1", "shop-2"):
        await handlers.sites.create(site_id, f"Shop {site_id[-1]}", "LIC-1", "ENROL-1",
                                    {"shop": "03.01.00_030"}, None, vendor)
    await handlers.accounts.create_user(None, "vera", PASSWORD, Role.SUPPORT, ())
    await handlers.accounts.create_user(None, "anna", PASSWORD, Role.ADMIN, ("*",))
    await bus.publish([Outgoing.of(MessageFactory("release-watcher").new(ReleaseDownloaded(
        site_id="shop-1", product="shop", version=NEW, package=PackageRef(
            product="shop", version=NEW, sha256="e" * 64, size=10,
            url="http://watcher/a"))))])

    cli = Cli(tmp_path / "session.json")
    await cli.ok("login", "--url", url, "--username", "vera", "--password-stdin",
                 stdin=PASSWORD + "\n")
    green = await cli.until("shop-1 green", ("fleet", "sites", "--banner", "green"),
                            lambda page: len(page["sites"]) == 1)
    assert green["sites"][0]["site_id"] == "shop-1"
    table = (await cli.ok("fleet", "sites")).out
    assert "shop-1" in table and "shop-2" in table and f"(next {NEW})" in table
    exported = (await cli.ok("fleet", "sites", "--csv", "--search", "shop-2")).out
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [(r["site_id"], r["banner"], r["products"]) for r in rows] == [
        ("shop-2", "none", "shop=03.01.00_030")]
    release = (await cli.ok("fleet", "release", "shop", NEW)).out
    assert "offered, no update yet" in release and "(shop-1)" in release
    assert "not yet offered" in release and "(shop-2)" in release
    assert (await cli.ok("fleet", "failed")).out.strip() == (
        "no failed update is waiting for support")

    admin = Cli(tmp_path / "admin.json")
    await admin.ok("login", "--url", url, "--username", "anna", "--password-stdin",
                   stdin=PASSWORD + "\n")
    refused = await admin.refused(1, "fleet", "sites")
    assert "vendor view" in refused
