"""The vendor feed's content, as the vendor tool writes it and the release-watcher reads it
(R1, R4). The feed is a TUF repository; these are the formats of two of its targets, already
verified by TUF when parsed here: this module checks that their *content* makes sense and says
what is wrong if not.

- ``catalogue.json``: every product's releases (version, package target path, size, notes,
  ``requires_confirmation_code``, ``min_platform_version``).
- ``entitlements/<sha256(license key)>.json``: ``{"active": bool, "valid_until": iso datetime |
  null}`` per licence (the feed is public, so the licence key itself never appears in it).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, time

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from lockstep_shared.catalogue import Product
from lockstep_shared.versions import Version, VersionText

CATALOGUE_TARGET = "catalogue.json"


class InvalidCatalogue(ValueError):
    """The catalogue target is not a valid Lockstep catalogue."""


class CatalogueRelease(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    version: VersionText
    package: str = Field(
        min_length=1, max_length=500, description="TUF target path of the package"
    )
    size: int = Field(ge=0)
    notes_url: str | None = None
    requires_confirmation_code: bool = False
    min_platform_version: VersionText | None = None

    @field_validator("package")
    @classmethod
    def _relative_path(cls, value: str) -> str:
        if value.startswith("/") or ".." in value.split("/"):
            raise ValueError(f"package target path {value!r} must be relative, without '..'")
        return value

    @property
    def parsed_version(self) -> Version:
        return Version.parse(self.version)


class ProductReleases(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    releases: tuple[CatalogueRelease, ...] = ()

    @field_validator("releases")
    @classmethod
    def _unique_versions(
        cls, releases: tuple[CatalogueRelease, ...]
    ) -> tuple[CatalogueRelease, ...]:
        seen: dict[Version, str] = {}
        for release in releases:
            version = release.parsed_version
            if version in seen:
                raise ValueError(
                    f"version {release.version!r} is listed twice (also as {seen[version]!r})"
                )
            seen[version] = release.version
        return releases


class Catalogue(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    products: dict[Product, ProductReleases] = Field(default_factory=dict)

    def releases_of(self, product: str) -> tuple[CatalogueRelease, ...]:
        entry = self.products.get(product)
        return entry.releases if entry else ()

    def to_json(self) -> bytes:
        return self.model_dump_json(indent=2).encode()


def parse_catalogue(data: bytes) -> Catalogue:
    """The catalogue in ``data``, or ``InvalidCatalogue`` saying what is wrong with it."""
    try:
        return Catalogue.model_validate_json(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'catalogue'}: {err['msg']}"
            for err in exc.errors()[:5]
        )
        raise InvalidCatalogue(f"the vendor catalogue is invalid: {problems}") from exc


# --- entitlements (R4) ------------------------------------------------------------------

ENTITLEMENTS_DIR = "entitlements"


class InvalidEntitlement(ValueError):
    """The entitlement target is not a valid entitlement record."""


class EntitlementRecord(BaseModel):
    """What the vendor signs for one licence."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    active: bool
    valid_until: AwareDatetime | None = None

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


def entitlement_target(license_key: str) -> str:
    """The TUF target path of a licence's entitlement record."""
    digest = hashlib.sha256(license_key.encode()).hexdigest()
    return f"{ENTITLEMENTS_DIR}/{digest}.json"


def end_of_day(day: date) -> datetime:
    """``--until 2026-12-31`` means valid through that whole day (UTC)."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


def parse_entitlement(data: bytes) -> EntitlementRecord:
    try:
        return EntitlementRecord.model_validate_json(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'record'}: {err['msg']}"
            for err in exc.errors()[:3]
        )
        raise InvalidEntitlement(
            f"the vendor's subscription record for this licence is invalid: {problems}"
        ) from exc
