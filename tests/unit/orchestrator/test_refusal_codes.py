"""Every refusal the orchestrator can raise has a stable code, and the admin API's one table
(``entrypoints/errors.py``) gives each code its HTTP status: a new kind of refusal without a
status fails here, not as a 400 in production."""

from __future__ import annotations

import importlib
import pkgutil

import orchestrator
from orchestrator.domain.decisions import CodeRejected
from orchestrator.domain.errors import Refused
from orchestrator.entrypoints.errors import STATUS, refusal_answer
from orchestrator.service_layer.errors import CodeNotValid, LoginThrottled


def every_refusal() -> set[type[Refused]]:
    for module in pkgutil.walk_packages(orchestrator.__path__, "orchestrator."):
        if ".migrations" not in module.name:
            importlib.import_module(module.name)
    found: set[type[Refused]] = set()
    todo = [Refused]
    while todo:
        kind = todo.pop()
        for sub in kind.__subclasses__():
            if sub.__module__.startswith("orchestrator.") and sub not in found:
                found.add(sub)
                todo.append(sub)
    return found


def test_every_refusal_code_has_a_status() -> None:
    refusals = every_refusal()
    assert len(refusals) >= 12
    missing = {kind.__name__: kind.code for kind in refusals if kind.code not in STATUS}
    assert missing == {}
    assert len({kind.code for kind in refusals}) == len(refusals), "codes are distinct"


def test_a_refusal_answers_detail_and_code_with_its_extras() -> None:
    wrong = refusal_answer(CodeNotValid(CodeRejected(attempts_left=2)))
    assert wrong.status_code == 422
    assert wrong.body.startswith(b'{"detail":"the confirmation code is not valid')
    assert b'"code":"code_not_valid","reason":"code_not_valid","params":{"attempts_left":2},' \
           b'"attempts_left":2}' in wrong.body  # the reason and its parameters: translated
    throttled = refusal_answer(LoginThrottled(30))
    assert (throttled.status_code, throttled.headers["retry-after"]) == (429, "30")
