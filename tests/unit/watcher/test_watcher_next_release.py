"""Which release a site is offered next: one step at a time (R5), platform first (R8)."""

from __future__ import annotations

from lockstep_shared.contracts.vendor_feed import Catalogue, CatalogueRelease, ProductReleases
from release_watcher.domain.releases import (
    NextRelease,
    UpToDate,
    choose_next,
    plan_check,
    platform_required,
)


def _release(version: str, min_platform: str | None = None) -> CatalogueRelease:
    return CatalogueRelease(
        version=version, package=f"packages/p/{version}/p.tar.gz", size=1,
        min_platform_version=min_platform,
    )


def _catalogue(**products: list[CatalogueRelease]) -> Catalogue:
    return Catalogue(products={p: ProductReleases(releases=tuple(r)) for p, r in products.items()})


RELEASES = (
    _release("03.01.00_032"), _release("03.01.00_030"), _release("03.01.00_031"),
    _release("03.02.00_001"), _release("03.01.00_029"),
)


def test_the_next_release_is_the_lowest_above_the_installed_one() -> None:
    chosen = choose_next("03.01.00_030", RELEASES)
    assert chosen is not None and chosen.version == "03.01.00_031"


def test_versions_compare_numerically_not_as_text() -> None:
    releases = (_release("1.9"), _release("1.10"), _release("1.11"))
    chosen = choose_next("1.9", releases)
    assert chosen is not None and chosen.version == "1.10"


def test_nothing_is_offered_at_or_above_the_newest() -> None:
    assert choose_next("03.02.00_001", RELEASES) is None
    assert choose_next("04.00", RELEASES) is None
    assert choose_next("1.0", ()) is None


def test_a_plan_covers_every_installed_product_in_order() -> None:
    catalogue = _catalogue(shop=list(RELEASES))
    plan = plan_check({"warehouse": "1.0", "shop": "03.01.00_031"}, catalogue)
    assert plan == [
        NextRelease("shop", "03.01.00_031", _release("03.01.00_032")),
        UpToDate("warehouse", "1.0"),
    ]


def test_a_release_needing_a_newer_platform_says_which() -> None:
    release = _release("2.0", min_platform="5.1")
    assert platform_required(release, {"shop": "1.0", "platform": "5.0"}) == "5.1"
    assert platform_required(release, {"shop": "1.0"}) == "5.1"
    assert platform_required(release, {"shop": "1.0", "platform": "5.1"}) is None
    assert platform_required(_release("2.0"), {"platform": "1"}) is None
    (outcome,) = plan_check(
        {"shop": "1.0"}, _catalogue(shop=[release])
    )
    assert isinstance(outcome, NextRelease) and outcome.platform_required == "5.1"
