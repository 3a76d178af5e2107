"""Helpers of the browser tests of the admin console (X7): a real single-node Lockstep as a
process (vendor feed with a release, ``lockstep-node``), accounts made with ``lockstep-orchestrator
create-user``, simulated devices, and Debian's Chromium driven headless by Playwright.

Screenshots of each window go to ``test-artifacts/screenshots/`` (gitignored)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, Page, expect

import lockstep_tools.demo.environment as demo_environment
from lockstep_tools.demo.environment import DemoEnvironment, Release, free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
BIN = ROOT / ".venv" / "bin"
PASSWORD = "correct horse battery"
PRODUCT, FROM_VERSION, TO_VERSION = "shop", "03.01.00_030", "03.01.00_031"



class ConsoleEnvironment(DemoEnvironment):
    """The demo environment, plus what the console's manual codes need in single-node: the
    orchestrator reaches the gateway's internal API at the node's own URL with a shared
    secret (set here unless the environment already sets them)."""

    requires_confirmation_code = False

    async def __aenter__(self) -> ConsoleEnvironment:
        chosen = demo_environment.free_port
        try:
            await super().__aenter__()
        finally:
            demo_environment.free_port = chosen
        return self

    def lockstep_env(self, trusted_root: Path) -> dict[str, str]:
        env = super().lockstep_env(trusted_root)
        self.port = free_port()
        # the node is started right after this, on the port the demo asks free_port for
        demo_environment.free_port = lambda: self.port
        secret = f"internal-{self.run_id}"
        env.setdefault("LOCKSTEP_ORCHESTRATOR_GATEWAY_URL", f"http://127.0.0.1:{self.port}")
        env.setdefault("LOCKSTEP_ORCHESTRATOR_INTERNAL_TOKEN", secret)
        env.setdefault("LOCKSTEP_GATEWAY_INTERNAL_TOKEN", secret)
        env.setdefault("LOCKSTEP_ORCHESTRATOR_ARGON2_TIME_COST", "1")
        env.setdefault("LOCKSTEP_ORCHESTRATOR_ARGON2_MEMORY_KIB", "1024")
        return env

    def publish_release(self) -> Path:
        if not self.requires_confirmation_code:
            return super().publish_release()
        from lockstep_tools.vendor.package import make_demo_package
        from lockstep_tools.vendor.repository import VendorRepository

        repo = VendorRepository.init(self.work_dir / "feed")
        package = make_demo_package(self.work_dir / "packages", self.release.product,
                                    self.release.to_version)
        repo.publish(product=self.release.product, version=self.release.to_version,
                     package=package, requires_confirmation_code=True,
                     notes_url=f"https://vendor.example/notes/{self.release.to_version}")
        repo.entitle(self.license_key)
        return repo.root_path


class CodeReleaseEnvironment(ConsoleEnvironment):
    requires_confirmation_code = True


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

    def create_user(self, username: str, role: str, *sites: str) -> None:
        args = [str(BIN / "lockstep-orchestrator"), "create-user", username, "--role", role,
                "--password-stdin"]
        for site in sites:
            args += ["--site", site]
        environment = {k: v for k, v in os.environ.items() if not k.startswith("LOCKSTEP_")}
        environment["LOCKSTEP_VAR_DIR"] = str(self.env.var_dir)
        environment["LOCKSTEP_ORCHESTRATOR_ARGON2_TIME_COST"] = "1"
        environment["LOCKSTEP_ORCHESTRATOR_ARGON2_MEMORY_KIB"] = "1024"
        done = subprocess.run(args, input=PASSWORD + "\n", text=True, capture_output=True,
                              env=environment, timeout=60)
        assert done.returncode == 0, done.stderr

    async def api(self, username: str, method: str, path: str, body: Any = None) -> Any:
        async with httpx.AsyncClient(base_url=f"{self.url}/api/v1", timeout=30) as client:
            if username not in self.tokens:
                login = await client.post("/sessions",
                                          json={"username": username, "password": PASSWORD})
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
        return (await self.api("support", "GET", f"/sites/{self.site_id}/banner"))["state"]


async def start_lockstep(work_dir: Path, *, admins: tuple[str, ...] = ("alice", "bob"),
                         agent_env: dict[str, str] | None = None,
                         environment: type[ConsoleEnvironment] = ConsoleEnvironment,
                         ) -> AsyncIterator[Lockstep]:
    env = environment(mode="single", work_dir=work_dir,
                      release=Release(PRODUCT, FROM_VERSION, TO_VERSION),
                      agent_env={"LOCKSTEP_GATEWAY_DELIVERY_DEADLINE_S": "3",
                                 "LOCKSTEP_ORCHESTRATOR_AGENT_SILENCE_S": "3",
                                 **(agent_env or {})})
    async with env:
        lockstep = Lockstep(env, enrolment_code=f"enrol-{env.run_id}")
        lockstep.create_user("support", "support")
        await lockstep.api("support", "POST", "/sites", {
            "site_id": env.site_id, "name": "Negozio Centro", "license_key": env.license_key,
            "enrolment_code": lockstep.enrolment_code,
            "products": [{"product": PRODUCT, "version": FROM_VERSION}]})
        for admin in admins:
            lockstep.create_user(admin, "admin", env.site_id)
        lockstep.create_user("carol", "user", env.site_id)
        yield lockstep


async def open_console(browser: Browser, lockstep: Lockstep, username: str,
                       language: str = "en") -> Page:
    context = await browser.new_context(viewport={"width": 1360, "height": 900},
                                        locale=language)
    page = await context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors  # type: ignore[attr-defined]
    await page.goto(lockstep.url + "/")
    await page.fill("#login-username", username)
    await page.fill("#login-password", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#banner")).to_have_attribute("data-state", re.compile(".+"))
    return page


async def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def answer(page: Page, dialog: str, action: str = "yes",
                 screenshot: str | None = None) -> None:
    """Click ``action`` in the open dialog named ``dialog`` (after a screenshot if asked)."""
    box = page.locator(f"dialog[open][data-name='{dialog}']")
    await expect(box).to_be_visible()
    if screenshot:
        await shot(page, screenshot)
    await box.locator(f"[data-action='{action}']").click()
    await expect(box).to_have_count(0)
