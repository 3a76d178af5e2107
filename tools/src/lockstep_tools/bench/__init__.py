"""``make bench`` (issue 12): a coordinated update timed and costed in server CPU per device,
against the floor of what its requests, events and transactions cost on the same machine."""
