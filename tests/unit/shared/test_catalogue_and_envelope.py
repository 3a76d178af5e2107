"""The envelope and the event catalogue: parsing, validation, documentation."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from lockstep_shared.catalogue import MESSAGE_TYPES, InstallRequested, PackageRef, binding
from lockstep_shared.envelope import Envelope, InvalidEnvelope
from lockstep_shared.message_factory import MessageFactory

README = Path(__file__).resolve().parents[3] / "README.md"
SHA = "a" * 64


def install_request() -> InstallRequested:
    package = PackageRef(product="shop", version="03.01.00_031", sha256=SHA, size=10,
                         url="http://watcher/watcher/v1/artifacts/" + SHA)
    return InstallRequested(site_id="shop-1", update_id="u1", package=package)


def test_every_message_type_is_documented_in_the_readme() -> None:
    readme = README.read_text()
    missing = [t for t in MESSAGE_TYPES if f"`{t}`" not in readme and t not in readme]
    assert missing == []


def test_an_envelope_round_trips_and_carries_correlation() -> None:
    factory = MessageFactory("orchestrator", clock=lambda: datetime(2026, 1, 1, tzinfo=UTC),
                         ids=iter(["m1", "m2"]).__next__)
    first = factory.new(install_request())
    second = factory.caused_by(first, install_request())
    assert first.correlationid == "m1" and first.causationid is None
    assert (second.correlationid, second.causationid) == ("m1", "m1")
    assert first.subject == "site/shop-1/update/u1"
    assert first.routing_key == "lockstep.install.requested.shop-1"
    assert Envelope.from_json(second.to_json()) == second


def test_a_routing_key_binds_to_one_site_or_all() -> None:
    assert binding(InstallRequested, "shop-1") == "lockstep.install.requested.shop-1"
    assert binding(InstallRequested) == "lockstep.install.requested.*"


@pytest.mark.parametrize(
    ("mutate", "complaint"),
    [
        (lambda d: d.update(type="lockstep.release.downloaded"), "does not match"),
        (lambda d: d.update(siteid="other"), "does not match its data site"),
        (lambda d: d["data"].update(site_id="Not A Site"), "not a valid Lockstep envelope"),
        (lambda d: d["data"]["package"].update(sha256="xyz"), "not a valid Lockstep envelope"),
        (lambda d: d["data"]["package"].update(version="3.1-beta"), "invalid version"),
        (lambda d: d.update(unexpected=1), "not a valid Lockstep envelope"),
    ],
)
def test_a_bad_envelope_is_refused_with_what_was_wrong(mutate, complaint: str) -> None:  # type: ignore[no-untyped-def]
    import json

    envelope = MessageFactory("t").new(install_request())
    body = json.loads(envelope.to_json())
    mutate(body)
    with pytest.raises(InvalidEnvelope, match=complaint):
        Envelope.from_json(json.dumps(body))
