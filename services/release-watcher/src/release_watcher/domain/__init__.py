"""The watcher's pure rules: the feed catalogue's shape and which release comes next."""
