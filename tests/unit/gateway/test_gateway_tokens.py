"""Device tokens and GatewayTokens are taken on agents' command lines (issue 15)."""

from __future__ import annotations

from device_gateway.service_layer.auth import new_token


def test_a_token_never_starts_with_a_dash() -> None:
    """SWUpdate's suricatta parses ``-k -Xd…`` as its own ``-d`` (disabled): it would never
    poll (tests/integration/ddi pins it). One draw in 64 starts with ``-``: drawn again."""
    draws = iter(["-Xd1QwErTy", "-abc", "AbC-d_1"])
    assert new_token(lambda n: next(draws)) == "AbC-d_1"
    tokens = [new_token() for _ in range(2000)]
    assert not any(t.startswith("-") for t in tokens)
    assert len(set(tokens)) == 2000 and all(len(t) == 43 for t in tokens)
