"""The session file: private, round-tripped, overridden by the environment, and a stored
token never sent to another server."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from lockstep_tools.cli import session
from lockstep_tools.cli.session import NotLoggedIn, Session

STORED = Session(url="http://lockstep.example:8000", token="t0k", username="anna",
                 role="admin", expires_at="2026-11-21T17:00:00+00:00")


def test_the_config_path_comes_from_the_environment_or_the_home() -> None:
    assert session.config_path({"LOCKSTEP_CLI_CONFIG": "/x/s.json"}) == Path("/x/s.json")
    assert session.config_path({}) == Path.home() / ".config" / "lockstep" / "session.json"


def test_a_saved_session_is_private_and_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "session.json"
    session.save(path, STORED)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert session.load(path) == STORED
    session.save(path, Session(url="http://other"))  # overwriting works too
    assert session.load(path) == Session(url="http://other")
    assert session.clear(path) is True
    assert session.clear(path) is False
    assert session.load(path) is None


def test_an_unreadable_session_counts_as_none(tmp_path: Path) -> None:
    path = tmp_path / "session.json"
    path.write_text("{not json")
    assert session.load(path) is None


def test_the_environment_overrides_the_stored_session() -> None:
    assert session.resolve(STORED, {}) == STORED
    assert session.resolve(STORED, {"LOCKSTEP_TOKEN": "t1"}).token == "t1"
    only_env = session.resolve(None, {"LOCKSTEP_URL": "http://h", "LOCKSTEP_TOKEN": "t2"})
    assert only_env == Session(url="http://h", token="t2")
    same = session.resolve(STORED, {"LOCKSTEP_URL": "http://lockstep.example:8000/"})
    assert same.token == "t0k"


def test_a_stored_token_is_never_sent_to_another_server() -> None:
    elsewhere = session.resolve(STORED, {"LOCKSTEP_URL": "http://evil.example"})
    assert elsewhere == Session(url="http://evil.example", token=None)


def test_without_a_url_it_says_how_to_log_in() -> None:
    with pytest.raises(NotLoggedIn, match="lockstep login --url URL"):
        session.resolve(None, {})


def test_logout_forgets_the_token_even_when_the_server_is_gone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from lockstep_tools.cli.main import main

    path = tmp_path / "session.json"
    session.save(path, Session(url="http://127.0.0.1:9", token="t0k"))  # nothing listens
    monkeypatch.setenv("LOCKSTEP_CLI_CONFIG", str(path))
    out = io.StringIO()
    assert main(["logout"], out=out) == 0
    assert not path.exists()
    assert "could not be reached" in out.getvalue()
