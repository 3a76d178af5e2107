"""A private RabbitMQ node and a private PostgreSQL cluster for the fault tests.

The fault tests stop and restart the broker and the database; the shared servers on 5672 and
5432 serve every other test run on the machine, so these are started here, on free ports, with
their data in a temporary directory, and removed afterwards.

- RabbitMQ: ``rabbitmq-server`` with its own node name, ports, data and log directories, an
  empty configuration file (the system's may pin a listener to 5672) and no plugins (no
  management listener). As root the Debian wrapper runs it as the ``rabbitmq`` user, whose
  Erlang cookie ``rabbitmqctl -n <node>`` also uses.
- PostgreSQL: ``initdb`` + ``pg_ctl`` of the newest ``/usr/lib/postgresql/*/bin``, trust
  authentication on 127.0.0.1 only. ``initdb`` refuses to run as root, so as root both run as
  the ``postgres`` user (``runuser``) on directories it owns.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

from lockstep_tools.demo.environment import free_port


def _is_root() -> bool:
    return os.geteuid() == 0


def _owned_by(path: Path, user: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    if _is_root():
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return path


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait(what: str, done: object, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not done():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not up within {timeout:.0f}s; log {log}:\n{_tail(log)}")
        time.sleep(0.2)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class PrivateRabbitMQ:
    """``start()``, ``stop()``, ``restart(down_s)``; ``url`` for the services."""

    def __init__(self, root: Path) -> None:
        if shutil.which("rabbitmq-server") is None or shutil.which("rabbitmqctl") is None:
            raise RuntimeError("the fault tests need rabbitmq-server and rabbitmqctl on PATH")
        self.root = _owned_by(root, "rabbitmq")
        self.port = free_port()
        self.dist_port = free_port()
        self.node = f"lockstep-faults-{secrets.token_hex(3)}@localhost"
        config = self.root / "rabbitmq.conf"
        config.write_text("# private node of the fault tests: defaults only\n")
        plugins = self.root / "enabled_plugins"
        plugins.write_text("[].\n")
        self.log = self.root / "server.log"
        self.env = {
            **os.environ,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(_owned_by(self.root / "mnesia", "rabbitmq")),
            "RABBITMQ_LOG_BASE": str(_owned_by(self.root / "log", "rabbitmq")),
            "RABBITMQ_CONFIG_FILE": str(config),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(plugins),
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def start(self, timeout: float = 90) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(["rabbitmq-server"], env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        _wait(f"RabbitMQ node {self.node}", self._up, timeout, self.log)

    def _up(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"rabbitmq-server exited with {self.process.returncode}:\n"
                               f"{_tail(self.log)}")
        return _listening(self.port)

    def stop(self) -> None:
        """A clean shutdown of the node (``rabbitmqctl stop``), as a restart does."""
        if self.process is None:
            return
        self.ctl("stop", check=False)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait()
        self.process = None

    def ctl(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(["rabbitmqctl", "-q", "-n", self.node, *args], env=self.env,
                              capture_output=True, text=True, timeout=120)
        if check and done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {done.stderr or done.stdout}")
        return done.stdout

    def queue_depths(self, prefix: str) -> dict[str, int]:
        """Ready + unacknowledged messages of every queue whose name starts with ``prefix``."""
        depths = {}
        for line in self.ctl("list_queues", "name", "messages").splitlines():
            name, _, count = line.rpartition("\t")
            if name.startswith(prefix) and count.strip().isdigit():
                depths[name] = int(count)
        return depths

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


class PrivatePostgres:
    """``start()``, ``stop()``; ``url`` is the server (``postgresql://postgres@host:port``)."""

    def __init__(self, root: Path) -> None:
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                          key=lambda p: int(p.parent.parent.name)
                          if p.parent.parent.name.isdigit() else 0)
        if not versions:
            raise RuntimeError("the fault tests need PostgreSQL's initdb "
                               "(/usr/lib/postgresql/<version>/bin)")
        self.bin = versions[-1].parent
        self.root = _owned_by(root, "postgres")
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                  "--no-sync")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if _is_root():
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120,
                              cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed: {done.stderr or done.stdout}\n{_tail(self.log)}")

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c max_connections=200")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w",
                  "-t", "60", "start")

    def stop(self) -> None:
        """A fast shutdown (every connection dropped), as a restart does."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def close(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
