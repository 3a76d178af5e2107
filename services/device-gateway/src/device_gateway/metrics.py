"""The gateway's own Prometheus figures (X5); the shared ones are in ``lockstep_shared.metrics``."""

from __future__ import annotations

from prometheus_client import Gauge

# counted where a long-poll starts and stops waiting (service_layer/push.py)
CONNECTED_DEVICES = Gauge(
    "lockstep_gateway_connected_devices",
    "Device long-polls waiting on this gateway process right now",
)
