"""``docs/device-protocol.md`` stays true (issue 11 §1, D13): every refusal ``code`` the device
gateway's source can answer is documented with its status, and every ``(status, code)`` the
document promises exists in the gateway — unless the document lists it under "Changes pending
in the server" (a section present only while the server lags the document).

The gateway's refusals (and the shared request limits') are read from the source with
``ast``: ``DeviceRefused(409, …, code="x")``-like calls (any call with a ``code=`` string and
a status as first argument or as ``status``/``status_code``), JSON bodies ``{"code": "x"}``
with a ``status_code=``, tables of ``(status, "code")`` tuples, and tables mapping
``"code": status``.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "device-protocol.md"
GATEWAY = ROOT / "services" / "device-gateway" / "src" / "device_gateway"
# what every service's HTTP app answers before a route runs (413 body_too_large, 422)
HTTP_LIMITS = ROOT / "shared" / "src" / "lockstep_shared" / "http_limits.py"
PENDING_HEADING = "## Changes pending in the server"

_ROW = re.compile(r"^\|\s*(\d{3})\s*\|\s*(`([a-z0-9_]+)`|—)\s*\|")
_CODE = re.compile(r"^[a-z][a-z0-9_]*$")


def _status(node: ast.AST | None) -> int | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and 100 <= node.value < 600:
        return int(node.value)
    return None


def _text(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and _CODE.match(node.value):
        return node.value
    return None


def gateway_refusals() -> dict[str, set[int]]:
    """code → the statuses the gateway's source pairs it with."""
    found: dict[str, set[int]] = defaultdict(set)
    for path in [*GATEWAY.rglob("*.py"), HTTP_LIMITS]:
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                keywords = {k.arg: k.value for k in node.keywords if k.arg}
                status = (_status(node.args[0]) if node.args else None) or _status(
                    keywords.get("status_code")) or _status(keywords.get("status"))
                code = _text(keywords.get("code"))
                if code is None and node.args and isinstance(node.args[0], ast.Dict):
                    body = node.args[0]
                    for key, value in zip(body.keys, body.values, strict=True):
                        if isinstance(key, ast.Constant) and key.value == "code":
                            code = _text(value)
                if code is not None and status is not None:
                    found[code].add(status)
            elif isinstance(node, ast.Tuple) and len(node.elts) == 2:
                status, code = _status(node.elts[0]), _text(node.elts[1])
                if status is not None and code is not None:
                    found[code].add(status)
            elif isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    code, status = _text(key), _status(value)
                    if code is not None and status is not None and "_" in code:
                        found[code].add(status)
    return dict(found)


def documented() -> tuple[dict[str, set[int]], set[int], str]:
    """(code → statuses of the doc's table rows, every status with a row, pending section)."""
    text = DOC.read_text(encoding="utf-8")
    body, _, pending = text.partition(PENDING_HEADING)  # no such section: nothing pending
    codes: dict[str, set[int]] = defaultdict(set)
    statuses: set[int] = set()
    for line in body.splitlines():
        match = _ROW.match(line)
        if match:
            statuses.add(int(match.group(1)))
            if match.group(3):
                codes[match.group(3)].add(int(match.group(1)))
    return dict(codes), statuses, pending


def test_the_reader_finds_the_gateways_refusals() -> None:
    """Guards the test itself: the extraction must see codes it knows are there."""
    found = gateway_refusals()
    assert {"sync_refused", "device_disabled", "update_in_preparation", "bad_range",
            "wrong_code"} <= set(found)
    assert found["sync_refused"] == {409}


def test_every_gateway_code_is_documented_with_its_status() -> None:
    doc_codes, _, _ = documented()
    problems = []
    for code, statuses in sorted(gateway_refusals().items()):
        if code not in doc_codes:
            problems.append(f"`{code}` ({sorted(statuses)}) is answered by the gateway but not "
                            f"documented in a status table of {DOC.name}")
        elif not statuses <= doc_codes[code]:
            problems.append(f"`{code}`: the gateway answers {sorted(statuses)}, the document "
                            f"says {sorted(doc_codes[code])}")
    assert not problems, "\n".join(problems)


def test_every_documented_code_exists_in_the_gateway_or_is_pending() -> None:
    doc_codes, _, pending = documented()
    server = gateway_refusals()
    problems = []
    for code, statuses in sorted(doc_codes.items()):
        mentioned_as_pending = code in _pending_codes(pending)
        if code not in server:
            if not mentioned_as_pending:
                problems.append(f"`{code}` is documented but the gateway never answers it "
                                "(and it is not listed under the pending changes)")
        elif not statuses <= server[code] and not mentioned_as_pending:
            problems.append(f"`{code}`: documented {sorted(statuses)}, the gateway answers "
                            f"{sorted(server[code])}")
    assert not problems, "\n".join(problems)


def test_every_status_the_gateway_answers_is_documented() -> None:
    _, doc_statuses, _ = documented()
    answered: set[int] = set()
    for statuses in gateway_refusals().values():
        answered |= statuses
    for path in (GATEWAY / "entrypoints").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg == "status_code":
                status = _status(node.value)
                if status is not None:
                    answered.add(status)
    missing = answered - doc_statuses
    assert not missing, f"statuses the gateway answers but {DOC.name} has no row for: {missing}"


def _pending_codes(pending: str) -> set[str]:
    """Codes named in the pending section: `code` or `409 code` in backticks."""
    return {m.group(1) for m in re.finditer(r"`(?:\d{3} )?([a-z][a-z0-9_]*)`", pending)}


def test_the_pending_section_names_documented_codes_only() -> None:
    """A pending refusal (`409 code` in backticks) is one the tables promise: a typo there would
    exempt nothing and hide a missing row."""
    doc_codes, _, pending = documented()
    if not pending:
        return  # nothing pending: the server does everything the document says
    named = set(re.findall(r"`\d{3} ([a-z][a-z0-9_]*)`", pending))
    assert named, "the pending section names no refusal: remove the section instead"
    missing = named - set(doc_codes)
    assert not missing, f"pending codes missing from the tables: {missing}"
