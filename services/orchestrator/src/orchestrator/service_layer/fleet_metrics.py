"""Updates by saga state and devices by state, read when Prometheus scrapes (X5)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from lockstep_shared import metrics
from orchestrator.adapters import metrics_repository
from orchestrator.domain.model import UpdateState


class FleetMetrics:
    def __init__(self, reads: AsyncEngine) -> None:
        self.engine = reads

    async def refresh(self) -> None:
        async with self.engine.connect() as conn:
            by_state = await metrics_repository.updates_by_state(conn)
            devices = await metrics_repository.devices_by_state(conn)
        for state in UpdateState:
            metrics.UPDATES_BY_STATE.labels(state.value).set(by_state.get(state.value, 0))
        for state, count in devices.items():
            metrics.DEVICES_BY_STATE.labels(state).set(count)

    def start(self) -> None:
        metrics.register_refresher(self.refresh)

    def stop(self) -> None:
        metrics.unregister_refresher(self.refresh)
