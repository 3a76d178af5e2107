"""``lockstep-bus-users`` — each service's RabbitMQ user, with exactly its rights.

    lockstep-bus-users print [--site S ...] [--only-sites]      # a rabbitmqctl shell script
    lockstep-bus-users apply [--site S ...] [--only-sites]      # run it through rabbitmqctl
    lockstep-bus-users apply --management-url http://rabbitmq:15672   # or the management API

Users, rights and password variables: ``provisioning.py``. The namespace is
``LOCKSTEP_BUS_NAMESPACE`` (``--namespace``), the vhost ``/`` (``--vhost``; it must exist).
``apply`` reads each password from ``BUS_PASSWORD_<SERVICE>`` (a site's agent:
``BUS_PASSWORD_SITE_<SITE>``, or the variable ``--password-env`` names); with
``--management-url`` the administrator's login from ``BUS_ADMIN_USER`` and
``BUS_ADMIN_PASSWORD``. Applying again updates passwords and rights; nothing else changes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from urllib.parse import quote

import httpx

from lockstep_shared.bus.provisioning import (
    CENTRAL,
    BusUser,
    MissingPassword,
    bus_users,
    passwords_of,
    rabbitmqctl_script,
)


class ProvisioningFailed(RuntimeError):
    """The broker refused or could not be reached."""


def _rabbitmqctl(*args: str, stdin: str | None = None) -> str:
    done = subprocess.run(["rabbitmqctl", *args], input=stdin, capture_output=True, text=True,
                          check=False, timeout=60)
    if done.returncode != 0:
        raise ProvisioningFailed(f"rabbitmqctl {args[0]} failed ({done.returncode}): "
                                 f"{(done.stderr or done.stdout).strip()[:500]}")
    return done.stdout


def apply_with_rabbitmqctl(users: Sequence[BusUser], passwords: Mapping[str, str],
                           vhost: str = "/") -> None:
    """Create or update the users on the broker this host's ``rabbitmqctl`` reaches."""
    existing = {line.split("\t")[0] for line in _rabbitmqctl("-q", "list_users").splitlines()}
    for user in users:
        command = "change_password" if user.name in existing else "add_user"
        _rabbitmqctl(command, user.name, stdin=passwords[user.name] + "\n")
        _rabbitmqctl("set_permissions", "-p", vhost, user.name, user.resources, user.resources,
                     user.resources)
        _rabbitmqctl("set_topic_permissions", "-p", vhost, user.name, user.exchange,
                     user.publish, user.bind)


def apply_with_management_api(users: Sequence[BusUser], passwords: Mapping[str, str], *,
                              url: str, admin: tuple[str, str], vhost: str = "/",
                              wait_s: float = 120) -> None:
    """The same through the management HTTP API (waits up to ``wait_s`` for it to answer)."""
    v = quote(vhost, safe="")
    with httpx.Client(base_url=url.rstrip("/"), auth=admin, timeout=10) as client:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                client.get("/api/overview").raise_for_status()
                break
            except httpx.HTTPError as exc:
                if time.monotonic() > deadline:
                    raise ProvisioningFailed(f"management API {url} not reachable: {exc}") from exc
                time.sleep(2)
        for user in users:
            name = quote(user.name, safe="")
            for path, body in (
                (f"/api/users/{name}", {"password": passwords[user.name], "tags": ""}),
                (f"/api/permissions/{v}/{name}", {"configure": user.resources,
                                                  "write": user.resources,
                                                  "read": user.resources}),
                (f"/api/topic-permissions/{v}/{name}", {"exchange": user.exchange,
                                                        "write": user.publish,
                                                        "read": user.bind}),
            ):
                answer = client.put(path, json=body)
                if answer.status_code not in (201, 204):
                    raise ProvisioningFailed(f"PUT {path}: {answer.status_code} "
                                             f"{answer.text[:300]}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lockstep-bus-users",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["print", "apply"])
    parser.add_argument("--namespace", default=os.environ.get("LOCKSTEP_BUS_NAMESPACE",
                                                              "lockstep"))
    parser.add_argument("--vhost", default="/")
    parser.add_argument("--site", action="append", default=[],
                        help="also the installer agent's user of this site (repeatable)")
    parser.add_argument("--only-sites", action="store_true",
                        help="only the sites' agent users, not the central services'")
    parser.add_argument("--management-url", help="apply through this management HTTP API")
    parser.add_argument("--password-env", metavar="VARIABLE",
                        help="read the one user's password from this variable instead")
    args = parser.parse_args(argv)
    try:
        users = bus_users(args.namespace, services=() if args.only_sites else CENTRAL,
                          sites=args.site)
    except ValueError as exc:
        parser.error(str(exc))
    if args.command == "print":
        sys.stdout.write(rabbitmqctl_script(users, args.vhost))
        return 0
    try:
        if args.password_env:
            if len(users) != 1:
                parser.error("--password-env is for exactly one user (e.g. --only-sites --site S)")
            passwords = {users[0].name: os.environ.get(args.password_env, "")}
            if not passwords[users[0].name]:
                raise MissingPassword(f"set {args.password_env}")
        else:
            passwords = passwords_of(users, os.environ)
        if args.management_url:
            admin = (os.environ.get("BUS_ADMIN_USER", ""),
                     os.environ.get("BUS_ADMIN_PASSWORD", ""))
            if not all(admin):
                raise MissingPassword("set BUS_ADMIN_USER and "
                                      "BUS_ADMIN_PASSWORD for the management API")
            apply_with_management_api(users, passwords, url=args.management_url, admin=admin,
                                      vhost=args.vhost)
        else:
            apply_with_rabbitmqctl(users, passwords, args.vhost)
    except (MissingPassword, ProvisioningFailed) as exc:
        print(f"lockstep-bus-users: {exc}", file=sys.stderr)
        return 2
    for user in users:
        print(f"{user.name}: publishes {user.publish}; binds {user.bind}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
