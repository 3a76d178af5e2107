"""A real single-node Lockstep for the JavaScript client's tests (``clients/js/test``).

Run with the workspace's Python (``.venv/bin/python``). It reuses the demo's environment: a
vendor feed serving a published release, ``lockstep-node`` on a free port with an installer
agent for the site, the ``vendor`` (support) account. It creates the site and its ``admin``, waits
until the release is downloaded (green banner), prints ONE JSON line with what a test needs,
then keeps everything up until its stdin closes or it gets SIGTERM, and removes it all.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

from lockstep_tools.cluster import BIN
from lockstep_tools.demo.environment import DemoEnvironment, Release

PRODUCT, FROM_VERSION, TO_VERSION = "shop", "03.01.00_030", "03.01.00_031"


async def main() -> int:
    work_dir = Path(tempfile.mkdtemp(prefix="lockstep-js-"))
    env = DemoEnvironment(mode="single", work_dir=work_dir,
                          release=Release(PRODUCT, FROM_VERSION, TO_VERSION))
    enrolment_code = f"enrol-{env.run_id}"
    try:
        async with env:
            vendor = await env.admin("vendor")
            try:
                await vendor.create_site(
                    site_id=env.site_id, name=f"JS client test {env.site_id}",
                    license_key=env.license_key, enrolment_code=enrolment_code,
                    products=[{"product": PRODUCT, "version": FROM_VERSION}])
            finally:
                await vendor.close()
            env.create_user("admin", "admin", [env.site_id])  # a site's accounts: once it exists
            admin = await env.admin("admin")
            try:
                await admin.wait_for("the release downloaded (green banner)",
                                     lambda: admin.banner(env.site_id),
                                     lambda b: b["state"] == "green", timeout=60)
            finally:
                await admin.close()
            print(json.dumps({
                "url": env.orchestrator_url, "gateway_url": env.gateway_urls[0],
                "site_id": env.site_id, "enrolment_code": enrolment_code,
                "admin": {"username": "admin", "password": env.password("admin")},
                "product": PRODUCT, "from_version": FROM_VERSION,
                "to_version": TO_VERSION, "simulator": str(BIN / "lockstep-simulator"),
                "log": str(env.var_dir / "logs" / "lockstep-node.log"),
            }), flush=True)
            await _until_told_to_stop()
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    return 0


async def _until_told_to_stop() -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    def read_until_closed() -> None:  # a daemon thread: never holds the process at exit
        sys.stdin.read()
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=read_until_closed, daemon=True).start()
    await stop.wait()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
