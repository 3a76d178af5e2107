"""The gateway's own Prometheus figures (X5); the shared ones are in ``lockstep_shared.metrics``."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

# counted where a long-poll starts and stops waiting (service_layer/push.py)
CONNECTED_DEVICES = Gauge(
    "lockstep_gateway_connected_devices",
    "Device long-polls waiting on this gateway process right now",
)

# counted where a device's acknowledgement, block, hand-in or version report is committed
# (service_layer/devices.py): the hot path logs at DEBUG only, one line per request is too dear
DEVICE_REPORTS = Counter(
    "lockstep_gateway_device_reports_total",
    "Device requests that changed state, by kind (ack, blocked, sync, version)",
    ["kind"],
)
