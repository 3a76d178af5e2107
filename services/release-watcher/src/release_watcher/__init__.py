"""Release-watcher: finds the vendor's releases in a TUF feed, verifies and downloads them."""
