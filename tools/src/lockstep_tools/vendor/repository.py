"""A vendor's TUF repository on disk (R1, R2), maintained with python-tuf's Metadata API.

Layout of ``REPO_DIR``::

    keys/<role>.pem          ed25519 private keys (PKCS#8 PEM), one per top-level role
    metadata/N.root.json     every root version; metadata/root.json = the newest (sites pin it)
    metadata/N.targets.json  versioned targets and snapshot (consistent snapshots)
    metadata/N.snapshot.json
    metadata/timestamp.json
    targets/<dir>/<sha256>.<name>   targets under hash-prefixed names (consistent snapshots)

Only ``metadata/`` and ``targets/`` are served (see ``server.py``); ``keys/`` stays private.
A publish writes the package and catalogue targets first, then targets, snapshot and, last,
timestamp, each file replaced atomically, so a client never sees a half-published release.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.serialization import load_pem_private_key
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

from lockstep_shared.contracts.vendor_feed import (
    CATALOGUE_TARGET,
    Catalogue,
    CatalogueRelease,
    EntitlementRecord,
    ProductReleases,
    end_of_day,
    entitlement_target,
    parse_catalogue,
    parse_entitlement,
)
from lockstep_shared.versions import Version

ROLES = (Root.type, Targets.type, Snapshot.type, Timestamp.type)
DEFAULT_EXPIRY_DAYS = 365.0


class VendorRepositoryError(Exception):
    """The repository directory is missing, incomplete or asked to do something invalid."""


def _expiry(days: float, now: datetime | None = None) -> datetime:
    return ((now or datetime.now(UTC)) + timedelta(days=days)).replace(microsecond=0)


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hashed_name(target_path: str, sha256: str) -> str:
    directory, sep, name = target_path.rpartition("/")
    return f"{directory}{sep}{sha256}.{name}"


class VendorRepository:
    """Create and maintain a Lockstep vendor feed: ``init``, then ``publish`` releases."""

    def __init__(self, repo_dir: Path | str) -> None:
        self.repo_dir = Path(repo_dir)
        self.keys_dir = self.repo_dir / "keys"
        self.metadata_dir = self.repo_dir / "metadata"
        self.targets_dir = self.repo_dir / "targets"
        if not (self.metadata_dir / "root.json").is_file():
            raise VendorRepositoryError(
                f"{self.repo_dir} is not a vendor repository (no metadata/root.json); "
                "create one with `lockstep-vendor init`"
            )

    # --- creating ---------------------------------------------------------------------

    @classmethod
    def init(cls, repo_dir: Path | str, *, expiry_days: float = DEFAULT_EXPIRY_DAYS) -> (
        VendorRepository
    ):
        """Generate one ed25519 key per role, sign root v1 and an empty catalogue."""
        repo_dir = Path(repo_dir)
        if (repo_dir / "metadata" / "root.json").exists():
            raise VendorRepositoryError(f"{repo_dir} already holds a vendor repository")
        keys_dir = repo_dir / "keys"
        keys_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(keys_dir, 0o700)
        signers = {role: CryptoSigner.generate_ed25519() for role in ROLES}
        for role, signer in signers.items():
            key_path = keys_dir / f"{role}.pem"
            _atomic_write(key_path, signer.private_bytes)
            os.chmod(key_path, 0o600)

        root = Root(expires=_expiry(expiry_days), consistent_snapshot=True)
        for role, signer in signers.items():
            root.add_key(signer.public_key, role)
        root_md = Metadata(root)
        root_md.sign(signers[Root.type])
        data = root_md.to_bytes(JSONSerializer(compact=False))
        _atomic_write(repo_dir / "metadata" / "1.root.json", data)
        _atomic_write(repo_dir / "metadata" / "root.json", data)
        (repo_dir / "targets").mkdir(exist_ok=True)

        repo = cls(repo_dir)
        repo._commit(Catalogue(), {}, expiry_days=expiry_days, first=True)
        return repo

    # --- reading ----------------------------------------------------------------------

    @property
    def root_path(self) -> Path:
        """The root metadata a site pins (``LOCKSTEP_WATCHER_TRUSTED_ROOT``)."""
        return self.metadata_dir / "root.json"

    def _load(self, role: str) -> Metadata:
        return Metadata.from_file(str(self.metadata_dir / f"{role}.json"))

    def _signer(self, role: str) -> CryptoSigner:
        path = self.keys_dir / f"{role}.pem"
        try:
            private_key = load_pem_private_key(path.read_bytes(), None)
        except FileNotFoundError as exc:
            raise VendorRepositoryError(f"signing key {path} is missing") from exc
        return CryptoSigner(private_key)  # type: ignore[arg-type]

    def catalogue(self) -> Catalogue:
        targets = self._load(Targets.type).signed
        info = targets.targets.get(CATALOGUE_TARGET)
        if info is None:
            return Catalogue()
        path = self.targets_dir / _hashed_name(CATALOGUE_TARGET, info.hashes["sha256"])
        return parse_catalogue(path.read_bytes())

    def target_file(self, target_path: str) -> Path:
        """Where a target's bytes live on disk (its hash-prefixed name)."""
        info = self._load(Targets.type).signed.targets.get(target_path)
        if info is None:
            raise VendorRepositoryError(f"no target {target_path!r} in the repository")
        return self.targets_dir / _hashed_name(target_path, info.hashes["sha256"])

    def versions(self) -> dict[str, int]:
        return {role: self._load(role).signed.version for role in ROLES}

    # --- publishing -------------------------------------------------------------------

    def publish(
        self,
        *,
        product: str,
        version: str,
        package: Path | str,
        notes_url: str | None = None,
        requires_confirmation_code: bool = False,
        min_platform_version: str | None = None,
        expiry_days: float = DEFAULT_EXPIRY_DAYS,
    ) -> CatalogueRelease:
        """Add the package as a target, add (or replace) the release in the catalogue, and
        re-sign targets, snapshot and timestamp with new versions and expiry."""
        package = Path(package)
        data = package.read_bytes()
        Version.parse(version)
        if min_platform_version is not None:
            Version.parse(min_platform_version)
        target_path = f"packages/{product}/{version}/{package.name}"
        release = CatalogueRelease(
            version=version,
            package=target_path,
            size=len(data),
            notes_url=notes_url,
            requires_confirmation_code=requires_confirmation_code,
            min_platform_version=min_platform_version,
        )
        catalogue = self.catalogue()
        products = dict(catalogue.products)
        kept = [
            r for r in catalogue.releases_of(product)
            if r.parsed_version != Version.parse(version)
        ]
        ordered = sorted([*kept, release], key=lambda r: r.parsed_version)
        products[product] = ProductReleases(releases=tuple(ordered))
        self._commit(
            Catalogue(products=products), {target_path: data}, expiry_days=expiry_days
        )
        return release

    def entitle(
        self,
        license_key: str,
        *,
        active: bool = True,
        until: date | datetime | None = None,
        expiry_days: float = DEFAULT_EXPIRY_DAYS,
    ) -> EntitlementRecord:
        """Publish a licence's subscription (R4) as the target
        ``entitlements/<sha256(license key)>.json`` and re-sign: active until ``until`` (a
        date: through that whole day, UTC; None: no end), or inactive (``active=False``)."""
        if not license_key.strip():
            raise VendorRepositoryError("the licence key must not be empty")
        valid_until: datetime | None
        if until is None or isinstance(until, datetime):
            valid_until = until
        else:
            valid_until = end_of_day(until)
        if valid_until is not None and valid_until.tzinfo is None:
            raise VendorRepositoryError("the subscription end must carry a time zone")
        record = EntitlementRecord(active=active, valid_until=valid_until)
        self._commit(
            self.catalogue(), {entitlement_target(license_key): record.to_json()},
            expiry_days=expiry_days,
        )
        return record

    def entitlement(self, license_key: str) -> EntitlementRecord | None:
        """The subscription published for a licence, or None."""
        path = entitlement_target(license_key)
        if path not in self._load(Targets.type).signed.targets:
            return None
        return parse_entitlement(self.target_file(path).read_bytes())

    def resign(self, *, expiry_days: float = DEFAULT_EXPIRY_DAYS) -> None:
        """New versions and expiry for targets, snapshot and timestamp, same content."""
        self._commit(self.catalogue(), {}, expiry_days=expiry_days)

    def sign_raw_catalogue(
        self, data: bytes, *, expiry_days: float = DEFAULT_EXPIRY_DAYS
    ) -> None:
        """Sign ``data`` as the catalogue exactly as given, without validating it, and re-sign
        the feed: what a buggy vendor script might publish, for checking that sites refuse it
        with the reason. Releases are added with ``publish``."""
        self._commit(data, {}, expiry_days=expiry_days)

    def _store_target(self, target_path: str, data: bytes) -> TargetFile:
        sha256 = _sha256(data)
        _atomic_write(self.targets_dir / _hashed_name(target_path, sha256), data)
        return TargetFile(length=len(data), hashes={"sha256": sha256}, path=target_path)

    def _commit(
        self,
        catalogue: Catalogue | bytes,
        new_targets: dict[str, bytes],
        *,
        expiry_days: float,
        first: bool = False,
    ) -> None:
        now = datetime.now(UTC)
        files = {path: self._store_target(path, data) for path, data in new_targets.items()}
        catalogue_json = catalogue if isinstance(catalogue, bytes) else catalogue.to_json()
        files[CATALOGUE_TARGET] = self._store_target(CATALOGUE_TARGET, catalogue_json)

        if first:
            targets_md = Metadata(Targets(expires=_expiry(expiry_days, now)))
            snapshot_md = Metadata(Snapshot(expires=_expiry(expiry_days, now)))
            timestamp_md = Metadata(Timestamp(expires=_expiry(expiry_days, now)))
        else:
            targets_md = self._load(Targets.type)
            snapshot_md = self._load(Snapshot.type)
            timestamp_md = self._load(Timestamp.type)
            for md in (targets_md, snapshot_md, timestamp_md):
                md.signed.version += 1
                md.signed.expires = _expiry(expiry_days, now)

        targets: Targets = targets_md.signed
        targets.targets.update(files)
        self._write_versioned(targets_md, Targets.type)

        snapshot: Snapshot = snapshot_md.signed
        snapshot.meta[f"{Targets.type}.json"] = MetaFile(version=targets.version)
        self._write_versioned(snapshot_md, Snapshot.type)

        timestamp: Timestamp = timestamp_md.signed
        timestamp.snapshot_meta = MetaFile(version=snapshot.version)
        timestamp_md.sign(self._signer(Timestamp.type))
        _atomic_write(
            self.metadata_dir / "timestamp.json",
            timestamp_md.to_bytes(JSONSerializer(compact=False)),
        )

    def _write_versioned(self, md: Metadata, role: str) -> None:
        md.sign(self._signer(role))
        data = md.to_bytes(JSONSerializer(compact=False))
        _atomic_write(self.metadata_dir / f"{md.signed.version}.{role}.json", data)
        _atomic_write(self.metadata_dir / f"{role}.json", data)
