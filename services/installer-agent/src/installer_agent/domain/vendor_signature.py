"""Is the package an install command names the one the vendor signed? (S4, end to end)

The command's sha256 and size only say which bytes to install; anyone able to put a message on
the bus could pick them. What counts is the vendor's TUF metadata, verified by the agent itself
from its own pinned root: the signed catalogue names the package target of (product, version),
and the signed targets metadata gives that target's length and sha256.
"""

from __future__ import annotations

from dataclasses import dataclass

from lockstep_shared.catalogue import PackageRef


@dataclass(frozen=True, slots=True)
class SignedPackage:
    """A package as the vendor's signed metadata describes it."""

    target: str
    sha256: str
    size: int


def signature_refusal(package: PackageRef, signed: SignedPackage | None) -> str | None:
    """Why the package must not be installed, or None when it is the signed one."""
    what = f"package {package.product} {package.version}"
    if signed is None:
        return (f"{what} is not in the vendor's signed catalogue; the install command was not "
                "issued for a release the vendor published, so nothing was downloaded or run")
    if signed.sha256 != package.sha256 or signed.size != package.size:
        return (f"{what} in the install command (sha256 {package.sha256}, {package.size} "
                f"bytes) is not the one the vendor signed as {signed.target} (sha256 "
                f"{signed.sha256}, {signed.size} bytes); nothing was downloaded or run")
    return None
