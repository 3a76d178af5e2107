"""A recorded event list of a whole update, replayed through the saga, gives the final state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lockstep_shared.catalogue import (
    AgentHeartbeat,
    InstallProgressed,
    InstallStarted,
    InstallSucceeded,
    PackageRef,
)
from orchestrator.domain.commands import Conclude, OpenUpdate, SendEnd, SendStart, StartServerUpdate
from orchestrator.domain.model import FleetSummary, UpdateState
from orchestrator.domain.releases import Release, ReleaseStatus
from orchestrator.domain.saga import decide, open_update

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
PACKAGE = PackageRef(product="shop", version="03.01.00_031", sha256="b" * 64, size=10,
                     url="http://watcher/a")

RECORDED = [
    SendStart("r1", "anna"),
    SendStart("r2", "anna", ("IMEI2",)),
    StartServerUpdate("anna", ("IMEI1", "IMEI2"), fleet=FleetSummary(enabled=2, waiting=2)),
    InstallStarted(site_id="shop-1", update_id="u1", started_at=T0),
    AgentHeartbeat(site_id="shop-1", update_id="u1", at=T0 + timedelta(seconds=10)),
    InstallProgressed(site_id="shop-1", update_id="u1", line="db migrated", percent=80),
    AgentHeartbeat(site_id="shop-1", update_id="u1", at=T0 + timedelta(seconds=5)),
    InstallSucceeded(site_id="shop-1", update_id="u1", installed_version="03.01.00_031",
                     duration_s=30),
    InstallSucceeded(site_id="shop-1", update_id="u1", installed_version="03.01.00_031",
                     duration_s=30),
    SendEnd("e1", "anna"),
    SendEnd("e2", "anna", ("IMEI2",)),
    Conclude("anna", confirm_not_updated=True, fleet=FleetSummary(enabled=2, on_target=1)),
]


def test_replaying_a_recorded_update_gives_the_final_state() -> None:
    release = Release(site_id="shop-1", product="shop", status=ReleaseStatus.DOWNLOADED,
                      version="03.01.00_031", package=PACKAGE)
    decision = open_update(OpenUpdate("u1", "shop-1", "shop", True, "anna"), active=None,
                           release=release, installed_version="03.01.00_030", now=T0)
    update = decision.state
    published = [m.type for m in decision.messages]
    for minute, step in enumerate(RECORDED, start=1):
        decision = decide(update, step, T0 + timedelta(minutes=minute))
        update = decision.state
        published += [m.type for m in decision.messages]
    assert update.state is UpdateState.CONCLUDED
    assert update.devices_released
    assert update.agent.last_heartbeat == T0 + timedelta(seconds=10)
    assert update.agent.last_percent == 80
    assert update.notifying_since == T0 + timedelta(minutes=1)
    assert published == [
        "lockstep.update.opened",
        "lockstep.device.notification-requested",
        "lockstep.device.notification-requested",
        "lockstep.update.server-update-started",
        "lockstep.install.requested",
        "lockstep.update.server-updated",
        "lockstep.update.devices-released",
        "lockstep.device.notification-requested",
        "lockstep.device.notification-requested",
        "lockstep.update.concluded",
    ]
