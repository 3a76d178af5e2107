"""The agent's decisions, pure: no I/O, no clock, no ids (they are passed in)."""
