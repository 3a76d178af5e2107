"""The second, independent device client (issue 11 §3, D13): ``clients/js`` written from
``docs/device-protocol.md`` alone. Its own tests (``node --test``) include a whole coordinated
update of JS devices with simulator devices on a real single-node Lockstep; this runs them in
``make test`` and fails when they fail. Node.js 18 or newer is required (``.ci/run`` installs
Debian's ``nodejs``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "js"


def test_the_javascript_client_passes_its_tests() -> None:
    node = shutil.which("node") or shutil.which("nodejs")
    assert node, ("node not found: install Node.js 18+ (Debian: apt-get install nodejs) to run "
                  "the JavaScript device client's tests")
    files = sorted(str(p.relative_to(ROOT)) for p in (CLIENT / "test").glob("*.test.js"))
    assert files, f"no tests found under {CLIENT / 'test'}"
    done = subprocess.run([node, "--test", *files], cwd=ROOT, capture_output=True, text=True,
                          timeout=420)
    summary = "\n".join(line for line in done.stdout.splitlines() if line.startswith("# "))
    assert done.returncode == 0, (
        f"node --test failed ({done.returncode}):\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}")
    assert "# fail 0" in summary and "# pass 0" not in summary, summary
