"""The vendor tool (R2): create a TUF release feed, publish releases, serve it over HTTP."""

from lockstep_tools.vendor.confirmation import confirmation_response
from lockstep_tools.vendor.package import make_demo_package, read_package_version
from lockstep_tools.vendor.repository import VendorRepository, VendorRepositoryError
from lockstep_tools.vendor.server import FeedRequestHandler, FeedServer, running_feed

__all__ = [
    "FeedRequestHandler",
    "FeedServer",
    "VendorRepository",
    "VendorRepositoryError",
    "confirmation_response",
    "make_demo_package",
    "read_package_version",
    "running_feed",
]
