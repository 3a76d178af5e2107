"""``lockstep-demo``: the coordinated update, scripted, against real Lockstep processes."""
