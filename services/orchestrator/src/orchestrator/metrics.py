"""The orchestrator's own Prometheus figures (X5); the shared ones are in
``lockstep_shared.metrics``."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

# the saga watchdog (service_layer/watchdog.py)
SAGA_COMMANDS_REISSUED = Counter(
    "lockstep_saga_commands_reissued_total",
    "Saga commands sent again because they had no outcome by their deadline",
    ["kind"],
)
SAGA_COMMANDS_STUCK = Gauge(
    "lockstep_saga_commands_stuck",
    "Saga commands still without an outcome after every re-send: a person must look",
    ["kind"],
)
SAGA_COMMANDS_AWAITING = Gauge(
    "lockstep_saga_commands_awaiting_outcome",
    "Saga commands sent whose outcome has not arrived yet (stuck ones included)",
    ["kind"],
)
