"""Every way TUF refuses the feed becomes a reason an admin can act on."""

from __future__ import annotations

import pytest
from tuf.api import exceptions as tuf_errors

from release_watcher.adapters.feed import describe_tuf_error


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (tuf_errors.ExpiredMetadataError("timestamp.json is expired"), "has expired"),
        (tuf_errors.BadVersionNumberError("new 2 < old 3"), "rollback"),
        (tuf_errors.UnsignedMetadataError("root was signed by 0/1 keys"), "not signed"),
        (tuf_errors.LengthOrHashMismatchError("snapshot hash"), "signed length or hash"),
        (tuf_errors.DownloadLengthMismatchError("40 bytes > 35"), "signed length or hash"),
        (tuf_errors.RepositoryError("odd"), "invalid metadata"),
        (tuf_errors.DownloadHTTPError("Not Found", 404), "unreachable"),
        (RuntimeError("boom"), "check failed: RuntimeError: boom"),
    ],
)
def test_tuf_refusals_are_explained(error: Exception, says: str) -> None:
    reason = describe_tuf_error(error)
    assert says in reason
    assert str(error) in reason


def test_an_empty_error_falls_back_to_its_cause() -> None:
    error = tuf_errors.SlowRetrievalError()
    error.__cause__ = ConnectionRefusedError("connection refused")
    assert "connection refused" in describe_tuf_error(error)
