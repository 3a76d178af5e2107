"""Install progress never holds up reading the installer's output: while a report cannot be
sent (the database is away) newer lines replace the one waiting, and closing sends the newest."""

from __future__ import annotations

import asyncio

from installer_agent.service_layer.install_job import ProgressReporter


async def test_a_blocked_report_does_not_block_the_output_and_the_newest_line_is_sent() -> None:
    database_back = asyncio.Event()
    sent: list[str] = []

    async def send(line: str) -> None:
        await database_back.wait()
        sent.append(line)

    now = [0.0]
    reporter = ProgressReporter(send, monotonic=lambda: now[0], interval_s=0.05)
    reporter.start()
    reporter.offer("progress 10%")  # taken by the reporter, which now waits for the database
    await asyncio.sleep(0.1)
    for percent in range(20, 101, 10):  # the installer goes on; offering never waits
        now[0] += 1.0
        reporter.offer(f"progress {percent}%")
    database_back.set()
    await asyncio.wait_for(reporter.close(), 5)
    assert sent[0] == "progress 10%"
    assert sent[-1] == "progress 100%"
    assert len(sent) <= 3  # the lines in between were replaced, not queued
