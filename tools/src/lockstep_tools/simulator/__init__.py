"""Device simulator (D11): many simulated devices in one process, the whole device side."""

from lockstep_tools.simulator.behaviour import Behaviour, assign_behaviours, serial_for
from lockstep_tools.simulator.fleet import Fleet
from lockstep_tools.simulator.fleet_snapshot import DeviceView, FleetSnapshot

__all__ = [
    "Behaviour",
    "DeviceView",
    "Fleet",
    "FleetSnapshot",
    "assign_behaviours",
    "serial_for",
]
