"""Helpers of the browser tests of the admin console (X7): a real single-node Lockstep as a
process (vendor feed with a release, ``lockstep-node``), accounts made with ``lockstep-orchestrator
create-user``, simulated devices, and Debian's Chromium driven headless by Playwright.

Screenshots of each window go to ``test-artifacts/screenshots/`` (gitignored)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, Page, expect

from lockstep_tools.demo.environment import DemoEnvironment, Release
from lockstep_tools.vendor.repository import VendorRepository

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
BIN = ROOT / ".venv" / "bin"
PRODUCT, FROM_VERSION, TO_VERSION = "shop", "03.01.00_030", "03.01.00_031"
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"  # axe-core, see vendor/README.md
SUPPORT = "vendor"  # the demo's vendor-support account
ADMIN = "admin"  # the demo's site admin



@dataclass
class Lockstep:
    """A running single-node Lockstep with one site and its accounts."""

    env: DemoEnvironment
    enrolment_code: str
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.env.orchestrator_url

    @property
    def site_id(self) -> str:
        return self.env.site_id

    def password(self, username: str) -> str:
        return self.env.password(username)

    def create_user(self, username: str, role: str, *sites: str) -> None:
        self.env.create_user(username, role, list(sites))

    async def api(self, username: str, method: str, path: str, body: Any = None) -> Any:
        async with httpx.AsyncClient(base_url=f"{self.url}/api/v1", timeout=30) as client:
            if username not in self.tokens:
                login = await client.post("/sessions",
                                          json={"username": username,
                                                "password": self.password(username)})
                assert login.status_code == 201, login.text
                self.tokens[username] = login.json()["token"]
            answer = await client.request(
                method, path, json=body,
                headers={"Authorization": f"Bearer {self.tokens[username]}"})
            assert answer.status_code < 300, f"{method} {path}: {answer.text}"
            return answer.json() if answer.content else None

    async def wait_for(self, what: str, fetch: Callable[[], Awaitable[Any]],
                       done: Callable[[Any], bool], timeout: float = 45) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            last = await fetch()
            if done(last):
                return last
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not reached in {timeout}s; last: {last}")
            await asyncio.sleep(0.2)

    async def banner_state(self) -> str:
        return (await self.api(SUPPORT, "GET", f"/sites/{self.site_id}/banner"))["state"]


def code_release(repo: VendorRepository, env: DemoEnvironment) -> None:
    """The vendor publishes a release that needs a confirmation code (U13)."""
    env.publish(repo, env.release.to_version, requires_confirmation_code=True)
    repo.entitle(env.license_key)


async def start_lockstep(work_dir: Path, *, admins: tuple[str, ...] = ("alice", "bob"),
                         agent_env: dict[str, str] | None = None,
                         prepare_feed: Callable[[VendorRepository, DemoEnvironment], None]
                         | None = None) -> AsyncIterator[Lockstep]:
    """Lockstep with one site created by vendor support; the demo's own site admin
    (``admin``) plus ``admins``, and the site user ``carol``."""
    env = DemoEnvironment(
        mode="single", work_dir=work_dir, release=Release(PRODUCT, FROM_VERSION, TO_VERSION),
        prepare_feed=prepare_feed,
        extra_env={"LOCKSTEP_GATEWAY_DELIVERY_DEADLINE_S": "3",
                   "LOCKSTEP_ORCHESTRATOR_AGENT_SILENCE_S": "3",
                   # "online now": the gateway reports polling devices every second, a device
                   # silent for 12 s is "last seen" (its long-polls last 5 s here)
                   "LOCKSTEP_GATEWAY_PRESENCE_INTERVAL_S": "1",
                   "LOCKSTEP_ORCHESTRATOR_DEVICE_ONLINE_S": "12",
                   "LOCKSTEP_ORCHESTRATOR_ARGON2_TIME_COST": "1",
                   "LOCKSTEP_ORCHESTRATOR_ARGON2_MEMORY_KIB": "1024"},
        agent_env=agent_env or {})
    async with env:
        lockstep = Lockstep(env, enrolment_code=f"enrol-{env.run_id}")
        await lockstep.api(SUPPORT, "POST", "/sites", {
            "site_id": env.site_id, "name": "Negozio Centro", "license_key": env.license_key,
            "enrolment_code": lockstep.enrolment_code,
            "products": [{"product": PRODUCT, "version": FROM_VERSION}]})
        for admin in (ADMIN, *admins):  # a site's accounts are made once it exists
            lockstep.create_user(admin, "admin", env.site_id)
        lockstep.create_user("carol", "user", env.site_id)
        yield lockstep


async def open_console(browser: Browser, lockstep: Lockstep, username: str,
                       language: str = "en") -> Page:
    # the browser's own zone is UTC: a date shown in a site's zone is the console's doing
    context = await browser.new_context(viewport={"width": 1280, "height": 800},
                                        locale=language, timezone_id="UTC")
    page = await context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors  # type: ignore[attr-defined]
    await page.goto(lockstep.url + "/")
    await page.fill("#login-username", username)
    await page.fill("#login-password", lockstep.password(username))
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#banner")).to_have_attribute("data-state", re.compile(".+"))
    return page


async def shot(page: Page, name: str) -> None:
    """The window as the user sees it, cut below the lowest content (small PNGs)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    bottom = await page.evaluate("""() => Math.ceil(Math.max(...[...document.querySelectorAll(
        "header, #login-view:not([hidden]) form, #app-view:not([hidden]), dialog[open]")]
        .map((el) => el.getBoundingClientRect().bottom)))""")
    size = page.viewport_size or {"width": 1360, "height": 900}
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), clip={
        "x": 0, "y": 0, "width": size["width"], "height": min(size["height"], bottom + 16)})


async def answer(page: Page, dialog: str, action: str = "yes",
                 screenshot: str | None = None) -> None:
    """Click ``action`` in the open dialog named ``dialog`` (after a screenshot if asked)."""
    box = page.locator(f"dialog[open][data-name='{dialog}']")
    await expect(box).to_be_visible()
    if screenshot:
        await shot(page, screenshot)
    await box.locator(f"[data-action='{action}']").click()
    await expect(box).to_have_count(0)


async def accessibility_problems(page: Page, *, impacts: tuple[str, ...] = ("serious", "critical")
                                 ) -> list[str]:
    """axe-core's violations of ``impacts`` on the page as it is now (open dialogs included),
    one line each: rule, impact, the first elements concerned."""
    if not await page.evaluate("() => Boolean(window.axe)"):
        # through the DevTools protocol: the console's Content-Security-Policy does not apply
        await page.evaluate(AXE.read_text(encoding="utf-8") + "\n;true")
    result = await page.evaluate("""async () => {
        const r = await axe.run(document, { resultTypes: ["violations"] });
        return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) }));
    }""")
    return [f"{v['id']} ({v['impact']}): {v['help']} — {', '.join(v['nodes'])}"
            for v in result if v["impact"] in impacts]


async def assert_accessible(page: Page, window: str) -> None:
    problems = await accessibility_problems(page)
    assert not problems, f"{window}: " + "; ".join(problems)
