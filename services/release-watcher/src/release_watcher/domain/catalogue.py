"""The vendor catalogue: the TUF target ``catalogue.json`` listing every product's releases (R1).

The vendor tool writes it, the watcher reads it. The file is already verified by TUF when it is
parsed here; this module checks that its *content* makes sense and says what is wrong if not.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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
