"""The orchestrator's domain: the update saga, release states and the banner. Pure: no I/O,
no clock, no ids generated here (they are passed in)."""
