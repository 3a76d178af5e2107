"""The service images (X6): deploy/docker/<service>.Dockerfile and the root .dockerignore.

No Docker engine runs here, so the Dockerfiles are parsed: each is a uv builder stage plus a
slim runtime stage running as a numeric non-root user, with a HEALTHCHECK, the service's console
script as ENTRYPOINT and ``serve`` as CMD; everything it COPYs exists and is not excluded by the
.dockerignore. The healthcheck command itself is run against a local HTTP server.
"""

from __future__ import annotations

import http.server
import json
import re
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKER_DIR = ROOT / "deploy" / "docker"
SERVICES = {  # image -> (workspace member directory, port)
    "orchestrator": ("services/orchestrator", 8000),
    "device-gateway": ("services/device-gateway", 8001),
    "release-watcher": ("services/release-watcher", 8002),
    "installer-agent": ("services/installer-agent", 8003),
}


# ------------------------------------------------------------------------------------ parsing
@dataclass(frozen=True)
class Instruction:
    cmd: str
    args: str
    line: int


def parse_dockerfile_text(text: str) -> list[Instruction]:
    """Instructions in order: comments dropped, backslash continuations joined."""
    instructions: list[Instruction] = []
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # comment lines inside a continuation are ignored by Docker too
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        cmd, _, args = full.partition(" ")
        instructions.append(Instruction(cmd.upper(), args.strip(), start))
    if pending:
        raise ValueError(f"line {start}: continuation never ends")
    return instructions


def parse_dockerfile(path: Path) -> list[Instruction]:
    return parse_dockerfile_text(path.read_text())


def stages(instructions: list[Instruction]) -> dict[str, list[Instruction]]:
    """Stage name -> its instructions (FROM included)."""
    result: dict[str, list[Instruction]] = {}
    current: list[Instruction] | None = None
    for ins in instructions:
        if ins.cmd == "FROM":
            words = ins.args.split()
            name = words[-1] if len(words) >= 3 and words[-2].upper() == "AS" else str(len(result))
            current = result.setdefault(name, [])
        if current is None:
            if ins.cmd != "ARG":
                raise ValueError(f"line {ins.line}: {ins.cmd} before the first FROM")
            continue
        current.append(ins)
    return result


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def copy_sources(ins: Instruction) -> tuple[list[str], str]:
    words = [w for w in ins.args.split() if not w.startswith("--")]
    return words[:-1], words[-1]


class DockerIgnore:
    """The subset of .dockerignore semantics we use: globs with ``*``, ``**``, ``?``, a
    leading ``/`` meaning the context root, ``!`` re-including; last matching rule wins; a
    path is excluded when it or one of its parent directories is."""

    def __init__(self, lines: list[str]) -> None:
        self.rules: list[tuple[bool, re.Pattern[str]]] = []
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            include = line.startswith("!")
            pattern = line[1:] if include else line
            self.rules.append((include, re.compile(self._regex(pattern.strip().strip("/")))))

    @classmethod
    def from_file(cls, path: Path) -> DockerIgnore:
        return cls(path.read_text().splitlines())

    @staticmethod
    def _regex(pattern: str) -> str:
        out = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                out += "(?:.*/)?"
                i += 3
            elif pattern.startswith("**", i):
                out += ".*"
                i += 2
            elif pattern[i] == "*":
                out += "[^/]*"
                i += 1
            elif pattern[i] == "?":
                out += "[^/]"
                i += 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                out += pattern[i : end + 1]
                i = end + 1
            else:
                out += re.escape(pattern[i])
                i += 1
        return f"^{out}$"

    def _matches(self, rel: str) -> bool | None:
        verdict = None
        for include, regex in self.rules:
            if regex.match(rel):
                verdict = not include
        return verdict

    def excluded(self, rel: str) -> bool:
        parts = rel.strip("/").split("/")
        excluded = False
        for depth in range(1, len(parts) + 1):
            verdict = self._matches("/".join(parts[:depth]))
            if verdict is not None:
                excluded = verdict
        return excluded

    def files_under(self, root: Path, source: str) -> Iterator[Path]:
        """The files of ``source`` (a file or a directory) that reach the build context."""
        path = root / source
        candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for candidate in candidates:
            if not self.excluded(candidate.relative_to(root).as_posix()):
                yield candidate


# ---------------------------------------------------------------------------- the fixtures
def dockerfile(service: str) -> Path:
    return DOCKER_DIR / f"{service}.Dockerfile"


def runtime_stage(service: str) -> list[Instruction]:
    all_stages = stages(parse_dockerfile(dockerfile(service)))
    return list(all_stages.values())[-1]


def last(instructions: list[Instruction], cmd: str) -> Instruction:
    found = [i for i in instructions if i.cmd == cmd]
    assert found, f"no {cmd} instruction"
    return found[-1]


def console_scripts(member: str) -> dict[str, str]:
    project = tomllib.loads((ROOT / member / "pyproject.toml").read_text())["project"]
    return project.get("scripts", {})


def workspace_members() -> list[Path]:
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    members: list[Path] = []
    for pattern in root["tool"]["uv"]["workspace"]["members"]:
        members += [p for p in sorted(ROOT.glob(pattern)) if (p / "pyproject.toml").is_file()]
    return members


# ------------------------------------------------------------------------------------ tests
def test_there_is_one_dockerfile_per_service_and_nothing_else() -> None:
    assert sorted(p.name for p in DOCKER_DIR.glob("*.Dockerfile")) == sorted(
        f"{s}.Dockerfile" for s in SERVICES
    )


@pytest.mark.parametrize("service", SERVICES)
def test_image_runs_the_services_console_script_as_a_non_root_user(service: str) -> None:
    member, port = SERVICES[service]
    runtime = runtime_stage(service)
    assert runtime[0].args.split()[0] == "${PYTHON_IMAGE}"
    user = last(runtime, "USER").args
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0, f"USER must be a numeric non-root uid, not {user!r}"
    assert not gid or (gid.isdigit() and int(gid) != 0)

    entrypoint = exec_form(last(runtime, "ENTRYPOINT").args)
    scripts = console_scripts(member)
    assert entrypoint == [f"lockstep-{service}"] and entrypoint[0] in scripts
    assert exec_form(last(runtime, "CMD").args) == ["serve"]
    assert str(port) in last(runtime, "EXPOSE").args.split()
    env = " ".join(i.args for i in runtime if i.cmd == "ENV")
    assert "PATH=/app/.venv/bin:$PATH" in env
    assert re.search(r"LOCKSTEP_[A-Z]+_HOST=0\.0\.0\.0", env), "must listen on every interface"
    assert re.search(rf"LOCKSTEP_[A-Z]+_PORT={port}\b", env)


@pytest.mark.parametrize("service", SERVICES)
def test_image_is_built_from_the_workspace_lock_for_that_package_only(service: str) -> None:
    text = dockerfile(service).read_text()
    args = {i.args.split("=")[0]: i.args.split("=", 1)[1] for i in parse_dockerfile(
        dockerfile(service)) if i.cmd == "ARG" and "=" in i.args}
    assert args["PYTHON_IMAGE"].startswith("python:3.11-slim")
    all_stages = stages(parse_dockerfile(dockerfile(service)))
    assert "builder" in all_stages
    syncs = [i.args for i in all_stages["builder"] if i.cmd == "RUN" and "uv sync" in i.args]
    assert syncs, "the builder stage must run uv sync"
    for sync in syncs:
        for flag in ("--frozen", "--no-dev", f"--package lockstep-{service}"):
            assert flag in sync, f"{flag} missing from: {sync}"
    assert "--no-editable" in syncs[-1], "the final sync must install real packages"
    # The runtime stage takes only the virtual environment from the builder.
    runtime = runtime_stage(service)
    from_builder = [i for i in runtime if i.cmd == "COPY" and "--from=builder" in i.args]
    assert [copy_sources(i) for i in from_builder] == [(["/app/.venv"], "/app/.venv")]
    assert "uv" not in " ".join(i.args for i in runtime if i.cmd == "RUN"), text


@pytest.mark.parametrize("service", SERVICES)
def test_every_copy_source_exists_and_reaches_the_build_context(service: str) -> None:
    ignore = DockerIgnore.from_file(ROOT / ".dockerignore")
    copies = [i for i in parse_dockerfile(dockerfile(service))
              if i.cmd == "COPY" and "--from" not in i.args]
    assert copies
    for ins in copies:
        sources, _ = copy_sources(ins)
        for source in sources:
            assert (ROOT / source).exists(), f"line {ins.line}: {source} does not exist"
            assert list(ignore.files_under(ROOT, source)), (
                f"line {ins.line}: {source} is excluded by .dockerignore"
            )
    copied = " ".join(i.args for i in copies)
    # Every workspace member's pyproject is there (uv reads the whole workspace) ...
    for member in workspace_members():
        assert f"{member.relative_to(ROOT).as_posix()}/pyproject.toml" in copied
    # ... but only this service's sources and the shared package's.
    member, _ = SERVICES[service]
    assert f"{member}/src/" in copied and "shared/src/" in copied
    for other, (other_member, _) in SERVICES.items():
        if other != service:
            assert f"{other_member}/src" not in copied


@pytest.mark.parametrize("service", SERVICES)
def test_healthcheck_asks_readyz_without_curl_and_fails_on_503(service: str) -> None:
    _, port = SERVICES[service]
    healthcheck = last(runtime_stage(service), "HEALTHCHECK").args
    assert re.search(r"--interval=\d+s", healthcheck) and re.search(r"--timeout=\d+s", healthcheck)
    command = exec_form(healthcheck[healthcheck.index("CMD") + 3 :].strip())
    assert command[:2] == ["python", "-c"]
    assert f"http://127.0.0.1:{port}/readyz" in command[2]

    status = {"code": 200}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status["code"] if self.path == "/readyz" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        probe = command[2].replace(f":{port}/", f":{server.server_address[1]}/")
        assert subprocess.run([sys.executable, "-c", probe], capture_output=True,
                              timeout=20).returncode == 0
        status["code"] = 503
        assert subprocess.run([sys.executable, "-c", probe], capture_output=True,
                              timeout=20).returncode != 0
    finally:
        server.shutdown()
        server.server_close()


def test_dockerignore_keeps_local_state_and_tests_out_of_the_context() -> None:
    ignore = DockerIgnore.from_file(ROOT / ".dockerignore")
    for path in (".venv/bin/python", "var/bus.db", ".git/HEAD", "tests/conftest.py",
                 "services/orchestrator/src/orchestrator/__pycache__/x.pyc", ".pytest_cache/v",
                 ".mypy_cache/x", ".ruff_cache/x", ".env", "deploy/.env"):
        assert ignore.excluded(path), path
    for path in ("uv.lock", "pyproject.toml", "shared/src/lockstep_shared/settings.py",
                 "services/release-watcher/src/release_watcher/migrations/script.py.mako",
                 "tools/demo-host/install.sh"):
        assert not ignore.excluded(path), path


def test_parser_and_checks_reject_a_broken_dockerfile() -> None:
    broken = parse_dockerfile_text(
        "FROM python:3.11-slim AS runtime\nUSER root\nENTRYPOINT lockstep-orchestrator\n"
    )
    assert last(broken, "USER").args == "root"  # not a numeric non-root uid
    with pytest.raises(json.JSONDecodeError):
        exec_form(last(broken, "ENTRYPOINT").args)  # shell form: signals never reach the app
    with pytest.raises(ValueError):
        parse_dockerfile_text("FROM x\nRUN a \\\n")
    ignore = DockerIgnore(["tests", "**/.venv", "!tests/keep"])
    assert ignore.excluded("tests/a.py") and ignore.excluded("a/b/.venv/x")
    assert not ignore.excluded("tests/keep")
