"""The HTTP APIs document themselves: ``docs/openapi/device-v1.json`` (the device API,
``/device/v1``), ``docs/openapi/ddi-v1.json`` (hawkBit's DDI controller API) and
``docs/openapi/admin-v1.json`` (the admin API, ``/api/v1``) are cut from the OpenAPI document
of the running code (every service as single-node assembles them, nothing started), with the
schemas they use. A test regenerates them in memory and fails when a file drifts from the code.

    make docs        # also runs: python -m lockstep_tools.openapi_docs
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from lockstep_shared.bus.memory import InProcessBus
from lockstep_shared.runtime import http_app
from lockstep_shared.settings import LockstepSettings
from lockstep_tools.node import build_services

DOCS = Path("docs/openapi")
APIS = {
    "device-v1.json": ("/device/v1/", "Lockstep device API",
                       "What a handheld's app calls (docs/device-protocol.md). Every refusal "
                       "is {detail, code}."),
    "ddi-v1.json": ("/{tenant}/controller/v1/", "Lockstep hawkBit DDI controller API",
                    "Eclipse hawkBit's Direct Device Integration API v1 as the device gateway "
                    "serves it to off-the-shelf update agents (SWUpdate, rauc-hawkbit): tenant = "
                    "site, controllerId = serial (docs/ddi.md). Every refusal is {detail, code}."),
    "admin-v1.json": ("/api/v1/", "Lockstep admin API",
                      "The console's and the command line's API. Every refusal is "
                      "{detail, code}."),
}


def full_document() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        common = LockstepSettings(var_dir=Path(tmp))
        bus = InProcessBus(Path(tmp) / "bus.db", "openapi")
        services = build_services(common, bus, public_url="http://127.0.0.1:8000",
                                  with_agent=False)
        return http_app(services, bus, title="Lockstep").openapi()


def documents() -> dict[str, dict[str, Any]]:
    """File name → the OpenAPI document of that API."""
    full = full_document()
    return {name: _cut(full, prefix, title, description)
            for name, (prefix, title, description) in APIS.items()}


def _cut(full: dict[str, Any], prefix: str, title: str, description: str) -> dict[str, Any]:
    paths = {path: item for path, item in full["paths"].items() if path.startswith(prefix)}
    components = full.get("components", {})
    schemas = components.get("schemas", {})
    wanted: set[str] = set()
    pending = [paths]
    while pending:
        for ref in _refs(pending.pop()):
            name = ref.rsplit("/", 1)[-1]
            if name not in wanted:
                wanted.add(name)
                pending.append(schemas[name])
    used_schemes = {name for item in paths.values() for operation in item.values()
                    for requirement in operation.get("security", ()) for name in requirement}
    schemes = {name: scheme for name, scheme in components.get("securitySchemes", {}).items()
               if name in used_schemes}
    return {
        "openapi": full["openapi"],
        "info": {"title": title, "version": "1", "description": description},
        "paths": paths,
        "components": {"schemas": {name: schemas[name] for name in sorted(wanted)},
                       **({"securitySchemes": schemes} if schemes else {})},
    }


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lockstep_tools.openapi_docs",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a file is out of date")
    args = parser.parse_args(argv)
    stale = []
    for name, document in documents().items():
        path = DOCS / name
        text = render(document)
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"out of date (run `make docs`): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
