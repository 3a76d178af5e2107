"""Command templates: the configured installer and version commands, made into argv lists, and
how a host command ended (``Finished``; ``CommandNotStarted`` if it could not start at all).

A template is split like a shell would split it (``shlex``), then each ``{name}`` placeholder
is replaced *inside* its argument. The result is run directly (never through a shell), so a
value can never become a second argument or a shell command, whatever it contains.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

INSTALLER_PLACEHOLDERS = frozenset(
    {"package", "version", "product", "sha256", "update_id", "site_id"}
)
VERSION_PLACEHOLDERS = frozenset({"product", "version", "site_id"})

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class InvalidTemplate(ValueError):
    """A command template that cannot be rendered: say which part is wrong."""


@dataclass(frozen=True, slots=True)
class HostCommand:
    """A configured command of the host (installer, version, backup, restore): its template
    and how long it may run before it is killed."""

    template: str
    timeout_s: float


def _split(template: str) -> list[str]:
    try:
        words = shlex.split(template)
    except ValueError as exc:
        raise InvalidTemplate(f"command template {template!r} cannot be split: {exc}") from exc
    if not words:
        raise InvalidTemplate("command template is empty: configure the command to run")
    return words


def check_template(template: str, allowed: frozenset[str]) -> None:
    """Raise ``InvalidTemplate`` unless the template splits and uses only allowed placeholders."""
    for word in _split(template):
        for name in _PLACEHOLDER.findall(word):
            if name not in allowed:
                raise InvalidTemplate(
                    f"unknown placeholder {{{name}}} in {template!r}; "
                    f"allowed: {', '.join('{' + n + '}' for n in sorted(allowed))}"
                )


def render(template: str, values: Mapping[str, str]) -> list[str]:
    """The argv for ``template`` with every placeholder replaced inside its own argument."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise InvalidTemplate(f"unknown placeholder {{{name}}} in {template!r}")
        return values[name]

    return [_PLACEHOLDER.sub(substitute, word) for word in _split(template)]


LineHandler = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Finished:
    """How a command ended. ``exit_code`` is negative when a signal ended it."""

    pid: int
    exit_code: int | None
    timed_out: bool
    output: tuple[str, ...]


class CommandNotStarted(Exception):
    """The command could not be started at all (missing program, permission)."""
