"""The event catalogue documents itself (X1): every message type has exactly one route
(publisher, consumers), and ``docs/asyncapi.yaml`` and the README's event table are exactly what
the catalogue generates. When one drifts, ``make docs`` regenerates both."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator, Draft202012Validator

from lockstep_shared import event_docs
from lockstep_shared.catalogue import (
    ROUTES,
    SERVICES,
    DeviceNotificationsQueued,
    InstallRequested,
    Message,
    PackageRef,
    ProductVersion,
    Route,
    SiteConfigured,
    UpdateOpened,
    consumed_by,
    published_by,
)
from lockstep_shared.envelope import wrap

ROOT = Path(__file__).resolve().parents[3]
ASYNCAPI_SCHEMA = Path(__file__).parent / "asyncapi" / "asyncapi-3.0.0.schema.json"
SHA = "a" * 64
MESSAGE_MODELS = Message.__args__  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    """The generated document as a reader gets it: through YAML."""
    return yaml.safe_load(event_docs.asyncapi_yaml())


def test_every_message_type_has_exactly_one_route() -> None:
    assert len(ROUTES) == len(MESSAGE_MODELS)
    assert set(ROUTES) == set(MESSAGE_MODELS)
    assert sum(len(published_by(s)) for s in SERVICES) == len(ROUTES)


def test_a_route_names_only_lockstep_services_each_once() -> None:
    with pytest.raises(ValueError, match="'watcher'"):
        Route("orchestrator", ("watcher",))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="twice"):
        Route("orchestrator", ("device-gateway", "device-gateway"))


def test_consumed_by_is_what_a_service_s_durable_queue_binds() -> None:
    assert consumed_by("installer-agent") == (InstallRequested,)
    gateway = consumed_by("device-gateway")
    assert SiteConfigured in gateway
    assert DeviceNotificationsQueued not in gateway  # a per-process wake-up, not the queue
    assert ROUTES[DeviceNotificationsQueued].broadcast


def test_every_message_type_says_what_it_means() -> None:
    assert [m.__name__ for m in MESSAGE_MODELS if not event_docs.summary(m)] == []


def test_the_document_is_valid_asyncapi_3(document: dict[str, Any]) -> None:
    validator = Draft7Validator(json.loads(ASYNCAPI_SCHEMA.read_text()))
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                for e in validator.iter_errors(document)]
    assert problems == []
    assert document["asyncapi"] == "3.0.0"


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"{ref} is not a reference inside the document"
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    refs = set(_refs(document))
    assert "#/components/schemas/PackageRef" in refs  # nested models are components too
    unresolved = []
    for ref in sorted(refs):
        try:
            _resolve(document, ref)
        except (KeyError, AssertionError):
            unresolved.append(ref)
    assert unresolved == []


def test_channels_and_operations_are_the_routes(document: dict[str, Any]) -> None:
    operations = document["operations"]
    assert len(document["channels"]) == len(ROUTES)
    for model, route in ROUTES.items():
        type_ = model.model_fields["type"].default
        channel = document["channels"][type_]
        assert channel["address"] == type_ + ".{site_id}"
        assert list(channel["messages"]) == [model.__name__]
        on_channel = {key: op for key, op in operations.items()
                      if op["channel"]["$ref"] == f"#/channels/{type_}"}
        senders = [key.split(".")[0] for key, op in on_channel.items() if op["action"] == "send"]
        receivers = {key.split(".")[0] for key, op in on_channel.items()
                     if op["action"] == "receive"}
        assert senders == [route.publisher], type_
        assert receivers == set(route.consumers), type_
        for op in on_channel.values():
            assert op["messages"] == [{"$ref": f"#/channels/{type_}/messages/{model.__name__}"}]


def _payload_validator(document: dict[str, Any], model: type) -> Draft202012Validator:
    """A message's payload schema, its references resolved inside the document."""
    return Draft202012Validator(
        {**document, "$ref": f"#/components/messages/{model.__name__}/payload"})


def _envelope(message: Any) -> dict[str, Any]:
    envelope = wrap(message, id="m1", source="/lockstep/orchestrator",
                    time=datetime(2026, 1, 1, tzinfo=UTC), correlation_id="m1")
    return json.loads(envelope.to_json())


def test_a_real_envelope_matches_its_payload_schema_and_no_other(
    document: dict[str, Any],
) -> None:
    package = PackageRef(product="shop", version="03.01.00_031", sha256=SHA, size=10,
                         url="http://watcher/watcher/v1/artifacts/" + SHA)
    install = _envelope(InstallRequested(site_id="shop-1", update_id="u1", package=package))
    site = _envelope(SiteConfigured(
        site_id="shop-1", name="Shop", license_key="L", enrolment_code_sha256=SHA,
        check_interval_s=60, products=(ProductVersion(product="shop", version="03.00.00_030"),)))

    assert list(_payload_validator(document, InstallRequested).iter_errors(install)) == []
    assert list(_payload_validator(document, SiteConfigured).iter_errors(site)) == []
    assert not _payload_validator(document, UpdateOpened).is_valid(install)
    install["data"]["package"].pop("sha256")
    assert not _payload_validator(document, InstallRequested).is_valid(install)


def test_the_committed_docs_are_what_the_catalogue_generates() -> None:
    committed = (ROOT / event_docs.ASYNCAPI_FILE).read_text()
    assert committed == event_docs.asyncapi_yaml(), (
        "docs/asyncapi.yaml differs from the event catalogue: run `make docs` and commit it")
    readme = (ROOT / event_docs.README_FILE).read_text()
    assert readme == event_docs.with_readme_table(readme), (
        "README.md's event table differs from the event catalogue: run `make docs` and commit it")


def test_regenerating_replaces_a_stale_table() -> None:
    readme = (ROOT / event_docs.README_FILE).read_text()
    stale = readme.replace(event_docs.END, "| `lockstep.gone` | x | y | z | w |\n"
                           + event_docs.END)
    assert stale != readme
    assert event_docs.with_readme_table(stale) == event_docs.with_readme_table(readme)


def test_a_readme_without_the_markers_gets_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"events:begin.*make docs"):
        event_docs.with_readme_table("# Lockstep\n\nno table here\n")


def test_make_docs_writes_both_files(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text(
        f"# x\n\n{event_docs.BEGIN}\nold\n{event_docs.END}\n\nafter\n")
    assert event_docs.main(["--root", str(tmp_path)]) == 0
    assert (tmp_path / "docs" / "asyncapi.yaml").read_text() == event_docs.asyncapi_yaml()
    readme = (tmp_path / "README.md").read_text()
    assert "\nold\n" not in readme and readme.endswith(f"{event_docs.END}\n\nafter\n")
    assert "| `lockstep.install.requested` | `orchestrator` | `installer-agent`" in readme
