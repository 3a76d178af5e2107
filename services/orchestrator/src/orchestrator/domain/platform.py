"""Platform first (R8): the platform is a product of the site like any other, updated by the
same saga; a product release may need a minimum platform version, and until the site's
platform is at least that, the release is shown but cannot be opened. Pure rules."""

from __future__ import annotations

from collections.abc import Mapping

from lockstep_shared.versions import Version

PLATFORM_PRODUCT = "platform"
"""The product name under which a site's platform is installed and released."""


def platform_required(min_platform_version: str | None, platform: str | None) -> str | None:
    """The platform version the site must install first, or None when its installed platform
    (``platform``: the version, None when not installed) is new enough or the release asks for
    none. A site without the platform installed never satisfies a requirement."""
    if min_platform_version is None:
        return None
    if platform is not None and Version.parse(platform) >= Version.parse(min_platform_version):
        return None
    return min_platform_version


def device_product(products: Mapping[str, str]) -> str | None:
    """The product whose version the site's device app follows: the first product listed
    other than the platform (the platform's updates stop and release the devices, but give
    them nothing to install), else the platform."""
    for product in products:
        if product != PLATFORM_PRODUCT:
            return product
    return next(iter(products), None)


def devices_target_version(product: str, to_version: str, products: Mapping[str, str]
                           ) -> str | None:
    """The app version the site's devices run once an update of ``product`` to ``to_version``
    is done: that version when the device app follows ``product``; otherwise (the platform)
    the version they run already, as the update gives them nothing to install."""
    followed = device_product(products)
    if followed is None or followed == product:
        return to_version
    return products.get(followed)
