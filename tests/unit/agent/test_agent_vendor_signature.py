"""The agent installs only the package the vendor signed for the release a command names."""

from __future__ import annotations

import pytest

from installer_agent.domain.vendor_signature import SignedPackage, signature_refusal
from installer_agent.settings import AgentSettings
from lockstep_shared.catalogue import PackageRef

SHA = "a" * 64
PACKAGE = PackageRef(product="shop", version="4.0.0", sha256=SHA, size=10, url="http://w/p")


def test_the_signed_package_is_accepted() -> None:
    assert signature_refusal(PACKAGE, SignedPackage("packages/shop/4.0.0/p", SHA, 10)) is None


@pytest.mark.parametrize("signed", [SignedPackage("packages/shop/4.0.0/p", "b" * 64, 10),
                                    SignedPackage("packages/shop/4.0.0/p", SHA, 11)],
                         ids=["other-sha256", "other-size"])
def test_other_bytes_than_the_signed_ones_are_refused(signed: SignedPackage) -> None:
    reason = signature_refusal(PACKAGE, signed)
    assert reason and "not the one the vendor signed as packages/shop/4.0.0/p" in reason


def test_a_release_the_vendor_never_published_is_refused() -> None:
    reason = signature_refusal(PACKAGE, None)
    assert reason and "not in the vendor's signed catalogue" in reason


def test_a_pinned_root_needs_the_feed_it_verifies_against(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="LOCKSTEP_AGENT_FEED_URL"):
        AgentSettings(site_id="s", trusted_root=tmp_path / "root.json")
