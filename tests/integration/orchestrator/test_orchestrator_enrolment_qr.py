"""The enrolment sheet's QR code (U1, issue 13 §8): an SVG drawn by the server for the site's
own enrolment code only. The test reads the SVG's modules back and compares them with the QR
matrix of the expected text (what a scanner would decode), not with the same function's
output."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import segno

from .conftest import SITE_BODY, Harness

GATEWAY = "https://gw.shop-1.example:8443"


def svg_modules(svg: str) -> tuple[int, set[tuple[int, int]]]:
    """(size in modules, dark modules as (row, column)) of a segno SVG: its dark path is runs
    of ``h<n>`` on rows, joined by relative moves ``m<dx> <dy>``."""
    width = int(re.search(r'width="(\d+)"', svg).group(1))  # type: ignore[union-attr]
    scale = int(re.search(r'scale\((\d+)\)', svg).group(1))  # type: ignore[union-attr]
    path = re.search(r'<path class="qrline" stroke="#000" d="([^"]+)"', svg).group(1)  # type: ignore[union-attr]
    border = 4
    dark: set[tuple[int, int]] = set()
    x = y = 0.0
    for op, args in re.findall(r"([MmHhVv])([^MmHhVv]*)", path):
        numbers = [float(n) for n in args.replace(",", " ").split()]
        if op == "M":
            x, y = numbers
        elif op == "m":
            x, y = x + numbers[0], y + numbers[1]
        elif op == "h":
            for column in range(int(x), int(x + numbers[0])):
                dark.add((int(y - 0.5) - border, column - border))
            x += numbers[0]
        else:
            raise AssertionError(f"unexpected path operation {op}")
    return width // scale - 2 * border, dark


def expected_modules(text: str) -> tuple[int, set[tuple[int, int]]]:
    matrix = segno.make_qr(text, error="m").matrix
    return len(matrix), {(r, c) for r, row in enumerate(matrix) for c, v in enumerate(row) if v}


async def test_the_sheet_qr_code_holds_gateway_site_and_code(harness: Harness) -> None:
    c = harness.client
    assert (await c.post("/api/v1/sites", json=SITE_BODY)).status_code == 201
    answer = await c.post("/api/v1/enrolment-qr-codes", json={
        "site_id": "shop-1", "gateway_url": GATEWAY,
        "enrolment_code": SITE_BODY["enrolment_code"]})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("image/svg+xml")
    assert answer.headers["cache-control"] == "no-store"
    svg = answer.text
    assert "<title>enrolment QR code of site shop-1</title>" in svg
    text = f"lockstep-enrol:?gateway=https%3A%2F%2Fgw.shop-1.example%3A8443&site=shop-1&code=" \
           f"{SITE_BODY['enrolment_code']}"
    assert svg_modules(svg) == expected_modules(text)
    query = parse_qs(urlsplit(text).query)
    assert query == {"gateway": [GATEWAY], "site": ["shop-1"],
                     "code": [SITE_BODY["enrolment_code"]]}
    # a finder pattern in each corner but one: a QR code a scanner will find
    size, dark = svg_modules(svg)
    for top, left in [(0, 0), (0, size - 7), (size - 7, 0)]:
        assert {(top + i, left) for i in range(7)} <= dark


async def test_no_sheet_for_a_wrong_code_or_an_unknown_site(harness: Harness) -> None:
    c = harness.client
    await c.post("/api/v1/sites", json=SITE_BODY)
    wrong = await c.post("/api/v1/enrolment-qr-codes", json={
        "site_id": "shop-1", "gateway_url": GATEWAY, "enrolment_code": "GUESS"})
    assert wrong.status_code == 422 and wrong.json()["reason"] == "not_the_enrolment_code"
    unknown = await c.post("/api/v1/enrolment-qr-codes", json={
        "site_id": "shop-9", "gateway_url": GATEWAY, "enrolment_code": "GUESS"})
    assert unknown.status_code == 404
    not_a_url = await c.post("/api/v1/enrolment-qr-codes", json={
        "site_id": "shop-1", "gateway_url": "javascript:alert(1)",
        "enrolment_code": SITE_BODY["enrolment_code"]})
    assert not_a_url.status_code == 422
