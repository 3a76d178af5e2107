"""The console's message catalogues: English, Italian and Russian have exactly the same keys,
every key the page and its modules use exists, and the placeholders agree across languages."""

from __future__ import annotations

import json
import re
from pathlib import Path

import orchestrator

CONSOLE = Path(orchestrator.__file__).parent / "console"
LANGUAGES = ("en", "it", "ru")


def catalogue(language: str) -> dict[str, str]:
    return json.loads((CONSOLE / "i18n" / f"{language}.json").read_text(encoding="utf-8"))


def test_the_three_catalogues_have_identical_keys() -> None:
    keys = {language: set(catalogue(language)) for language in LANGUAGES}
    for language in LANGUAGES[1:]:
        assert keys[language] == keys["en"], (
            f"{language}.json differs from en.json: missing "
            f"{sorted(keys['en'] - keys[language])}, extra {sorted(keys[language] - keys['en'])}")


def test_placeholders_are_the_same_in_every_language() -> None:
    english = catalogue("en")
    for language in LANGUAGES[1:]:
        for key, text in catalogue(language).items():
            assert set(re.findall(r"\{(\w+)\}", text)) == set(
                re.findall(r"\{(\w+)\}", english[key])), f"{language}.json {key}"


def test_no_message_is_empty() -> None:
    for language in LANGUAGES:
        assert all(text.strip() for text in catalogue(language).values()), language


def test_every_literal_key_used_by_the_console_exists() -> None:
    sources = [*(CONSOLE / "js").glob("*.js"), CONSOLE / "index.html"]
    used: set[str] = set()
    for source in sources:
        text = source.read_text(encoding="utf-8")
        used |= set(re.findall(r"""\bt\(\s*"([a-z0-9_.]+)\"""", text))
        used |= set(re.findall(r'data-i18n="([a-z0-9_.]+)"', text))
        used |= set(re.findall(r'"((?:grid|audit|sites|devices)\.[a-z_]+)"', text))
    assert used, "no message keys found: the pattern is wrong"
    english = set(catalogue("en"))
    prefixes = {key for key in used if any(k.startswith(f"{key}.") for k in english)}
    missing = sorted(used - english - prefixes)
    assert not missing, f"keys used but not in en.json: {missing}"


def test_keys_built_at_run_time_exist() -> None:
    states = ("none", "blue", "yellow", "green", "white", "update_in_progress",
              "server_updated", "red")
    built = [f"banner.{s}" for s in states]
    built += [f"count.{c}" for c in ("enabled", "notified", "delivered", "blocked", "waiting",
                                     "on_target")]
    built += [f"grid.filter.{f}" for f in ("all", "updated", "not_updated")]
    built += [f"live.{s}" for s in ("live", "reconnecting")]
    built += [f"role.{r}" for r in ("admin", "user", "support")]
    built += [f"summary.{k}.{o}" for k in ("start", "end", "error")
              for o in ("title", "delivered", "not_delivered")]
    built += [f"codes.{p}_{a}" for p in ("step3", "title") for a in ("block", "unblock")]
    built += [f"report.status_{s}" for s in ("pending", "delivered")]
    missing = [key for key in built if key not in catalogue("en")]
    assert not missing, missing


def code_key(prefix: str, code: str) -> str:
    """The console's ``translated(prefix, code)`` (i18n.js): non-alphanumerics become ``_``."""
    return f"{prefix}.{re.sub(r'[^A-Za-z0-9]+', '_', code).lower()}"


def server_codes() -> dict[str, set[str]]:
    """Every code the orchestrator can send that the console shows: refusal codes, grid notes,
    the gateway's not-delivered reasons, audit actions and outcomes, roles."""
    from device_gateway.domain import notifications
    from orchestrator.domain.accounts import Role
    from orchestrator.domain.devices import NOTES
    from orchestrator.entrypoints.errors import STATUS

    source = Path(orchestrator.__file__).parent
    actions = {"login"}
    for module in source.rglob("*.py"):
        text = module.read_text(encoding="utf-8")
        actions |= set(re.findall(
            r'"((?:update|device|install|site|user|dead_letter)\.[a-z_]+)"', text))
        outcomes = re.findall(r'(?<![_a-z])outcome=f?"([a-z]+)[:"]', text)
        actions |= {f"outcome:{o}" for o in outcomes}
    reasons: set[str] = set()
    for module in source.rglob("*.py"):
        text = module.read_text(encoding="utf-8")
        reasons |= set(re.findall(r'reason="([a-z_]+)"', text))
        reasons |= {f"wrong_step.{step}" for step in re.findall(
            r'_require\(update, [^;]*?,\s*"([a-z_]+)"\)', text, flags=re.DOTALL)}
    gateway_codes = set()
    for module in (Path(notifications.__file__).parent.parent / "service_layer").glob("codes.py"):
        text = module.read_text(encoding="utf-8")
        gateway_codes |= set(re.findall(r'DeviceRefused\("([a-z0-9_]+)"', text))
        gateway_codes |= set(re.findall(r'Outcome\.[A-Z_]+: "([a-z_]+)"', text))
    return {
        "refusal": reasons,
        "error": set(STATUS) | {"invalid_request", "body_too_large"} | gateway_codes,
        "grid.note": set(NOTES),
        "grid.reason": {notifications.DEVICE_NOT_CONNECTED, notifications.NOT_ACKNOWLEDGED},
        "audit.action": {a for a in actions if not a.startswith("outcome:")},
        "audit.outcome": {a.split(":", 1)[1] for a in actions if a.startswith("outcome:")} | {"ok"},
        "role": {r.value for r in Role},
    }


def test_every_code_the_server_sends_has_an_entry_in_every_language() -> None:
    codes = server_codes()
    assert {"update.start_push", "device.blocked_by_code"} <= codes["audit.action"]
    assert {"refused", "failed", "rejected"} <= codes["audit.outcome"]
    # refusal reasons (with their parameters) and the gateway's code-exchange refusals
    assert {"devices_not_waiting", "wrong_step.send_start", "wrong_step.conclude",
            "unknown_time_zone", "bad_username"} <= codes["refusal"]
    assert {"wrong_code", "code1_reused", "exchange_gone"} <= codes["error"]
    for language in LANGUAGES:
        known = set(catalogue(language))
        missing = sorted(code_key(prefix, code) for prefix, values in codes.items()
                         for code in values if code_key(prefix, code) not in known)
        assert not missing, f"{language}.json lacks {missing}"


def test_every_grid_status_has_an_entry() -> None:
    grid = (CONSOLE / "js" / "device_grid.js").read_text(encoding="utf-8")
    statuses = set(re.findall(r'code: "([a-z_]+)"', grid))
    assert {"waiting", "notifications_off", "updated", "still_blocked"} <= statuses
    missing = sorted(s for s in statuses if f"grid.status.{s}" not in catalogue("en"))
    assert not missing, missing
