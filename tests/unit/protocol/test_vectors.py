"""The device protocol's test vectors (``docs/test-vectors/``, D8, D13) are what the server's
formulas produce: the gateway's contract, the simulator's device side, and the formula as
``docs/device-protocol.md`` §8.2 words it all agree with every vector."""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from lockstep_shared.contracts import offline_codes
from lockstep_shared.contracts.device_registration import proves_secret, secret_proof
from lockstep_tools.simulator.offline_codes import Challenge, CodeRefused, code2_for

VECTORS = Path(__file__).resolve().parents[3] / "docs" / "test-vectors"


def _load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("test_vectors_generate", VECTORS / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _digits_as_documented(secret: str, message: str) -> str:
    """§8.2 read literally, independent of the contract module."""
    mac = hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).digest()
    return str(int.from_bytes(mac[:8], "big") % 1_000_000).rjust(6, "0")


CODES = _load("offline-codes.json")


@pytest.mark.parametrize("name", ["offline-codes.json", "registration-proof.json",
                                  "sample-package.json"])
def test_the_files_are_what_the_generator_writes(name: str) -> None:
    on_disk = (VECTORS / name).read_text(encoding="utf-8")
    assert on_disk == _generator().render(name), (
        f"docs/test-vectors/{name} drifted from the formulas: run "
        ".venv/bin/python docs/test-vectors/generate.py and review the diff")


def test_the_vectors_cover_leading_zeros_and_both_actions() -> None:
    vectors = CODES["vectors"]
    assert {v["action"] for v in vectors} == {"block", "unblock"}
    for field in ("code1", "code2", "code3"):
        assert any(v[field].startswith("00") for v in vectors), field
    assert all(len(v[f]) == 6 and v[f].isdigit() for v in vectors for f in ("code2", "code3"))


@pytest.mark.parametrize("vector", CODES["vectors"], ids=lambda v: f"{v['action']}-{v['code1']}")
def test_gateway_contract_computes_every_vector(vector: dict[str, str]) -> None:
    secret, action, code1 = vector["secret"], vector["action"], vector["code1"]
    assert offline_codes.code2(secret, action, code1) == vector["code2"]  # type: ignore[arg-type]
    assert offline_codes.code3(secret, action, code1,  # type: ignore[arg-type]
                               vector["code2"]) == vector["code3"]


@pytest.mark.parametrize("vector", CODES["vectors"], ids=lambda v: f"{v['action']}-{v['code1']}")
def test_the_documented_formula_computes_every_vector(vector: dict[str, str]) -> None:
    action, code1, code2 = vector["action"], vector["code1"], vector["code2"]
    assert _digits_as_documented(vector["secret"], f"{action}|{code1}|2") == code2
    assert _digits_as_documented(vector["secret"], f"{action}|{code1}|{code2}|3") == vector["code3"]


@pytest.mark.parametrize("vector", CODES["vectors"], ids=lambda v: f"{v['action']}-{v['code1']}")
def test_the_simulated_device_answers_every_vector(vector: dict[str, str]) -> None:
    secret, action = vector["secret"], vector["action"]
    challenge = Challenge.issue(int(vector["code1"]), action, now=0.0)  # type: ignore[arg-type]
    assert challenge.code1 == vector["code1"]
    assert code2_for(secret, vector["code1"], action) == vector["code2"]  # type: ignore[arg-type]
    assert challenge.answer(secret, vector["code2"], now=1.0) == vector["code3"]
    with pytest.raises(CodeRefused):  # single use
        challenge.answer(secret, vector["code2"], now=2.0)


def test_a_wrong_or_late_code2_is_refused_by_the_simulated_device() -> None:
    vector = CODES["vectors"][0]
    wrong = f"{(int(vector['code2']) + 1) % 1_000_000:06d}"
    challenge = Challenge.issue(int(vector["code1"]), vector["action"], now=0.0)
    with pytest.raises(CodeRefused):
        challenge.answer(vector["secret"], wrong, now=1.0)
    late = Challenge.issue(int(vector["code1"]), vector["action"], now=0.0)
    with pytest.raises(CodeRefused, match="expired"):
        late.answer(vector["secret"], vector["code2"], now=CODES["challenge_ttl_s"] + 1.0)


@pytest.mark.parametrize("case", CODES["typed"], ids=lambda c: repr(c["typed"]))
def test_typed_codes_normalise_as_documented(case: dict[str, Any]) -> None:
    problem = offline_codes.code_problem(case["typed"], "code")
    if case["code"] is None:
        assert problem is not None
    else:
        assert problem is None
        assert offline_codes.normalize(case["typed"]) == case["code"]


def test_unicode_digits_are_not_a_code() -> None:
    """§8.2: six ASCII digits; full-width digits would never match an HMAC's digits."""
    assert offline_codes.code_problem("\uff11\uff12\uff13\uff14\uff15\uff16", "code1") is not None
    assert offline_codes.code_problem("12345²", "code1") is not None


@pytest.mark.parametrize("vector", _load("registration-proof.json")["vectors"],
                         ids=lambda v: v["serial"])
def test_registration_proof_vectors(vector: dict[str, str]) -> None:
    secret, site, serial = vector["secret"], vector["site_id"], vector["serial"]
    assert secret_proof(secret, site, serial) == vector["proof"]
    documented = hmac.new(secret.encode(), f"register|{site}|{serial}".encode(),
                          hashlib.sha256).hexdigest()
    assert documented == vector["proof"]
    assert proves_secret(secret, site, serial, vector["proof"].upper())
    assert not proves_secret(secret, site, serial + "x", vector["proof"])


def test_sample_package_vector() -> None:
    package = _load("sample-package.json")
    content = base64.b64decode(package["content_base64"])
    assert len(content) == package["size"]
    assert hashlib.sha256(content).hexdigest() == package["sha256"]
    assert package["etag"] == f'"{package["sha256"]}"'
    for n, digest in package["sha256_of_prefixes"].items():
        assert hashlib.sha256(content[: int(n)]).hexdigest() == digest
