"""S1, U1, S6: accounts, bearer sessions, role and site checks on every route, the login rate
limit, and ``lockstep-orchestrator create-user`` on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.main import main

from .conftest import PASSWORD, SITE_BODY, Harness, downloaded

pytestmark = pytest.mark.integration
OPEN = {"product": "shop", "backups_confirmed": True}


@pytest.fixture
def database_url(tmp_path: Path) -> str:  # these rules do not depend on the database
    return f"sqlite:///{tmp_path / 'orchestrator.db'}"


async def test_every_route_needs_a_valid_bearer_token(harness: Harness) -> None:
    c = harness.client
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer nonsense"},
                    {"Authorization": "Basic abc"}):
        for method, path in (("GET", "/api/v1/sites"), ("GET", "/api/v1/sites/shop-1/banner"),
                             ("POST", "/api/v1/sites"), ("GET", "/api/v1/audit"),
                             ("POST", "/api/v1/updates/u1/conclusion")):
            answer = await c.request(method, path, headers=headers)
            assert answer.status_code == 401, (method, path, headers)
            assert answer.headers["www-authenticate"] == "Bearer"


async def test_login_logout_and_wrong_passwords(harness: Harness) -> None:
    h = harness
    wrong = await h.client.post("/api/v1/sessions", json={"username": "anna",
                                                          "password": "wrong password"})
    assert wrong.status_code == 401 and "wrong username or password" in wrong.text
    unknown = await h.client.post("/api/v1/sessions", json={"username": "nobody",
                                                            "password": PASSWORD})
    assert unknown.status_code == 401
    session = await h.client.post("/api/v1/sessions", json={"username": "anna",
                                                            "password": PASSWORD})
    body = session.json()
    assert session.status_code == 201 and body["role"] == "admin" and body["sites"] == ["*"]
    headers = {"Authorization": f"Bearer {body['token']}"}
    assert (await h.client.get("/api/v1/sites", headers=headers)).status_code == 200
    assert (await h.client.delete("/api/v1/sessions/current", headers=headers)).status_code == 204
    assert (await h.client.get("/api/v1/sites", headers=headers)).status_code == 401
    h.clock.advance(12 * 3600 + 1)  # the harness's own session expired too
    assert (await h.client.get("/api/v1/sites")).status_code == 401


async def test_five_failed_logins_are_throttled_with_retry_after(harness: Harness) -> None:
    h = harness
    bad = {"username": "anna", "password": "guess guess"}
    for _ in range(5):
        assert (await h.client.post("/api/v1/sessions", json=bad)).status_code == 401
    throttled = await h.client.post("/api/v1/sessions", json={"username": "anna",
                                                              "password": PASSWORD})
    assert throttled.status_code == 429 and throttled.headers["retry-after"] == "300"
    h.clock.advance(301)
    assert (await h.client.post("/api/v1/sessions", json={"username": "anna",
                                                          "password": PASSWORD})).status_code == 201
    audit = (await h.client.get("/api/v1/audit", params={"action": "login"})).json()["entries"]
    outcomes = [e["outcome"] for e in audit]
    assert outcomes.count("failed: wrong credentials") == 5
    assert "refused: rate limited" in outcomes and outcomes[0] == "ok"


async def test_site_users_only_read_and_other_sites_are_out_of_reach(harness: Harness) -> None:
    h = harness
    c = h.client
    await c.post("/api/v1/sites", json=SITE_BODY)
    await c.post("/api/v1/sites", json={**SITE_BODY, "site_id": "shop-2"})
    await h.deliver(h.watcher, downloaded())
    await h.create_user("ulla", "user", "shop-1")
    await h.create_user("otto", "admin", "shop-2")
    ulla, otto = await h.login("ulla"), await h.login("otto")

    for path in ("/api/v1/sites/shop-1", "/api/v1/sites/shop-1/banner",
                 "/api/v1/sites/shop-1/gate", "/api/v1/sites/shop-1/devices"):
        assert (await c.get(path, headers=ulla)).status_code == 200, path
        assert (await c.get(path, headers=otto)).status_code == 403, path
    refused = await c.post("/api/v1/sites/shop-1/updates", json=OPEN, headers=ulla)
    assert refused.status_code == 403 and "ulla (user) may not manage" in refused.text
    assert (await c.post("/api/v1/sites/shop-1/updates", json=OPEN,
                         headers=otto)).status_code == 403
    uid = (await c.post("/api/v1/sites/shop-1/updates", json=OPEN)).json()["update_id"]
    assert (await c.get(f"/api/v1/updates/{uid}", headers=ulla)).status_code == 200
    for path in ("cancellation", "start-notifications", "resolution"):
        assert (await c.post(f"/api/v1/updates/{uid}/{path}",
                             headers=ulla)).status_code == 403, path
    assert (await c.get(f"/api/v1/updates/{uid}", headers=otto)).status_code == 403
    assert [s["site_id"] for s in (await c.get("/api/v1/sites", headers=otto)).json()] == [
        "shop-2"]
    assert (await c.get("/api/v1/audit", headers=ulla)).status_code == 403
    assert (await c.get("/api/v1/audit", params={"site_id": "shop-1"},
                        headers=otto)).status_code == 403


async def test_support_creates_sites_and_users_admins_create_users_of_their_site(
    harness: Harness,
) -> None:
    h = harness
    c = h.client
    await h.create_user("vendor", "support")
    vendor = await h.login("vendor")
    assert (await c.post("/api/v1/sites", json={**SITE_BODY, "site_id": "shop-2"},
                         headers=vendor)).status_code == 201
    await h.create_user("otto", "admin", "shop-2")
    otto = await h.login("otto")
    assert (await c.post("/api/v1/sites", json=SITE_BODY, headers=otto)).status_code == 403
    assert (await c.post("/api/v1/sites", json=SITE_BODY, headers=vendor)).status_code == 201
    new_user = {"username": "ugo", "password": "a good password", "role": "user",
                "sites": ["shop-2"]}
    assert (await c.post("/api/v1/users", json=new_user, headers=otto)).status_code == 201
    other = {**new_user, "username": "ugo2", "sites": ["shop-1"]}
    assert (await c.post("/api/v1/users", json=other, headers=otto)).status_code == 403
    assert (await c.post("/api/v1/users", json=new_user, headers=vendor)).status_code == 409
    short = {**new_user, "username": "ugo3", "password": "short"}
    assert (await c.post("/api/v1/users", json=short, headers=otto)).status_code == 422
    # an account for a site that does not exist is refused, as by create-user: none is made
    nowhere = {**new_user, "username": "nemo", "sites": ["shop-1", "shop-9"]}
    unknown = await c.post("/api/v1/users", json=nowhere)  # anna: admin of every site
    assert unknown.status_code == 404, unknown.text
    assert (unknown.json()["code"], "unknown site 'shop-9'") == (
        "not_found", unknown.json()["detail"][:len("unknown site 'shop-9'")])
    assert "nemo" not in {u["username"] for u in (await c.get("/api/v1/users")).json()}
    listed = (await c.get("/api/v1/users", headers=otto)).json()
    assert {u["username"] for u in listed} == {"otto", "ugo"}  # not the admin of "*"
    assert (await h.login("ugo", "a good password"))["Authorization"].startswith("Bearer ")
    created = (await c.get("/api/v1/audit", params={"action": "user.created"})).json()
    assert {e["details"]["username"] for e in created["entries"]} >= {"ugo", "otto"}


def create_user(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                env: dict[str, str], *args: str, password: str) -> tuple[int, str, str]:
    """``lockstep-orchestrator create-user … --password-stdin`` with this environment."""
    for name, value in {"LOCKSTEP_LOG_JSON": "false", "LOCKSTEP_LOG_LEVEL": "INFO",
                        "LOCKSTEP_ORCHESTRATOR_ARGON2_TIME_COST": "1",
                        "LOCKSTEP_ORCHESTRATOR_ARGON2_MEMORY_KIB": "64", **env}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "stdin", io.StringIO(password + "\n"))
    with pytest.raises(SystemExit) as exited:
        main(["create-user", *args, "--password-stdin"])
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_create_user_command_migrates_and_creates_the_first_admin(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("LOCKSTEP_DATABASE_URL", raising=False)
    env = ({"LOCKSTEP_VAR_DIR": str(tmp_path / "var")} if backend == "sqlite"
           else {"LOCKSTEP_DATABASE_URL": request.getfixturevalue("pg_database")})
    code, _, err = create_user(monkeypatch, capsys, env, "first", "--role", "admin",
                               "--site", "shop-1", password="first admin password")
    assert code == 2 and "unknown site 'shop-1'" in err  # the site comes first
    code, out, err = create_user(monkeypatch, capsys, env, "first", "--role", "admin",
                                 "--site", "*", password="first admin password")
    assert code == 0, err
    assert "created admin first (*)" in out
    assert "alembic" not in err and "Running upgrade" not in err + out
    if backend == "sqlite":
        assert (tmp_path / "var" / "orchestrator.db").exists()
    code, _, err = create_user(monkeypatch, capsys, env, "first", "--role", "admin",
                               "--site", "*", password="first admin password")
    assert code == 2 and "exists already" in err
    code, _, err = create_user(monkeypatch, capsys, env, "second", "--role", "user",
                               password="long enough password")
    assert code == 2 and "needs at least one site" in err


def test_create_user_is_quick(tmp_path: Path) -> None:
    """The command costs about 2 s of CPU (it cost 4.5+ when every run compiled every
    module from source: ``make install`` compiles the installed packages to bytecode once,
    so it stays quick even where PYTHONDONTWRITEBYTECODE is set). CPU time, not wall time:
    the test machine may be busy."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "lockstep-orchestrator"), "create-user", "quick",
         "--role", "support", "--password-stdin"],
        input="a long enough password\n", capture_output=True, text=True, timeout=300,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("LOCKSTEP_")},
             "LOCKSTEP_VAR_DIR": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "created support quick (every site)"
    assert "alembic" not in done.stderr
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert cpu_s < 3.5, f"create-user used {cpu_s:.1f} s of CPU"
