"""Where ``lockstep login`` keeps the URL and the bearer token: one JSON file, readable only
by its owner (0600), at ``$LOCKSTEP_CLI_CONFIG`` or ``~/.config/lockstep/session.json``.
``LOCKSTEP_URL`` and ``LOCKSTEP_TOKEN`` override what is stored (scripts, CI)."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

CONFIG_ENV = "LOCKSTEP_CLI_CONFIG"
URL_ENV = "LOCKSTEP_URL"
TOKEN_ENV = "LOCKSTEP_TOKEN"


class NotLoggedIn(Exception):
    """No URL or token: say how to log in."""


@dataclass(frozen=True)
class Session:
    url: str
    token: str | None = None
    username: str | None = None
    role: str | None = None
    expires_at: str | None = None


def config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    configured = env.get(CONFIG_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".config" / "lockstep" / "session.json"


def load(path: Path) -> Session | None:
    """The stored session, or None when there is none (or it is unreadable)."""
    try:
        data = json.loads(path.read_text())
        return Session(**{k: data.get(k) for k in Session.__dataclass_fields__})
    except (OSError, ValueError, TypeError):
        return None


def save(path: Path, session: Session) -> None:
    """Write the session with mode 0600 (the token is a credential), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(asdict(session), out, indent=2)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def clear(path: Path) -> bool:
    """Forget the stored session; True when there was one."""
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False


def resolve(stored: Session | None, env: Mapping[str, str] | None = None) -> Session:
    """The session to use: the environment overrides the stored URL and token."""
    env = os.environ if env is None else env
    url = env.get(URL_ENV) or (stored.url if stored else None)
    if not url:
        raise NotLoggedIn(f"not logged in: run 'lockstep login --url URL --username NAME' "
                          f"(or set {URL_ENV} and {TOKEN_ENV})")
    same_server = stored is not None and stored.url.rstrip("/") == url.rstrip("/")
    # the stored token only ever goes to the server that issued it
    token = env.get(TOKEN_ENV) or (stored.token if stored and same_server else None)
    if stored is None or not same_server:
        return Session(url=url, token=token)
    return Session(url=url, token=token, username=stored.username, role=stored.role,
                   expires_at=stored.expires_at)

