"""What every command handler gets: its arguments, the API (logged in lazily), and one way
to show an answer (a human rendering, or the JSON as the API gave it)."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from lockstep_tools.cli import output, session
from lockstep_tools.cli.api import Api


class UsageError(Exception):
    """The command line itself is wrong (exit 2, with the command's usage)."""


class Refused(Exception):
    """Not an API error, but the action cannot go on (exit 1)."""


@dataclass
class Context:
    args: argparse.Namespace
    out: TextIO = field(default_factory=lambda: sys.stdout)
    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    _api: Api | None = None

    @property
    def json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    @property
    def config_path(self) -> Any:
        return session.config_path(self.env)

    def api(self) -> Api:
        if self._api is None:
            current = session.resolve(session.load(self.config_path), self.env)
            self._api = Api(current.url, current.token)
        return self._api

    def close(self) -> None:
        if self._api is not None:
            self._api.close()

    def show(self, data: Any, human: Callable[[Any], str]) -> None:
        """The API's answer: as JSON with ``--json``, else as ``human`` renders it."""
        self.say(output.as_json(data) if self.json else human(data))

    def say(self, text: str) -> None:
        if text:
            print(text, file=self.out, flush=True)

    def password(self, *, from_stdin: bool, twice: bool, prompt: str = "Password: ") -> str:
        """From one line of standard input (scripts) or prompted without echo."""
        if from_stdin:
            value = self.stdin.readline().rstrip("\r\n")
        else:
            if not self.stdin.isatty():
                raise UsageError("no terminal to ask the password on: use --password-stdin")
            value = getpass.getpass(prompt)
            if twice and getpass.getpass("Again: ") != value:
                raise Refused("the two passwords differ; nothing was done")
        if not value:
            raise UsageError("the password is empty")
        return value
