"""The watcher's pure rules and values: which release comes next, what a subscription means,
and what is known about a site."""
