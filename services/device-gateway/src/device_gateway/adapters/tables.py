"""The gateway's own tables (X2), as SQLAlchemy Core tables on the gateway's own MetaData.

Hot device paths use Core statements over these tables, never ORM sessions (PERFORMANCE.md).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from lockstep_shared.inbox import inbox_table
from lockstep_shared.outbox import outbox_table

METADATA = MetaData()

sites = Table(
    "sites",
    METADATA,
    Column("site_id", String(63), primary_key=True),
    Column("enrolment_code_sha256", String(64), nullable=False),
    Column("products", Text, nullable=False, doc="JSON list of {product, version}"),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("device_product", String(63), doc="the product the device app follows (D10)"),
    Column("device_version", String(64), doc="its version at the site: what devices run"),
)

devices = Table(
    "devices",
    METADATA,
    Column("site_id", String(63), primary_key=True),
    Column("serial", String(64), primary_key=True),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("secret", String(64), nullable=False, doc="device secret for offline codes (D8)"),
    Column("model", String(100), nullable=False),
    Column("operator_code", String(100)),
    Column("operator_name", String(200)),
    Column("operator_phone", String(50)),
    Column("app_version", String(64), nullable=False),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("notifications_enabled", Boolean, nullable=False, server_default=text("true")),
    Column("registered_at", DateTime(timezone=True), nullable=False),
    Column("last_sync", DateTime(timezone=True)),
    Column("blocked_update_id", String(64), doc="update this device is blocked for (D3, D8)"),
    Column("blocked_at", DateTime(timezone=True), doc="when that block began"),
    Column("blocked_by_code", Boolean, nullable=False, server_default=text("false"),
           doc="the admin blocked it with the offline codes (D8)"),
    Column("waiting_update_id", String(64), doc="update this device handed in its data for"),
    Column("admitted_update_id", String(64),
           doc="update whose server install started with this device waiting"),
    Column("idempotency_key_sha256", String(64),
           doc="Idempotency-Key of the registration that created the current credentials"),
    Column("reregistration_approved_at", DateTime(timezone=True),
           doc="the site admin approved one re-registration without the secret (issue 10)"),
    Column("agent", String(16), doc="'ddi': the device's update agent speaks hawkBit DDI (D14)"),
    Column("ddi_attributes", Text, doc="JSON: the DDI agent's configData attributes"),
    Column("ddi_attributes_at", DateTime(timezone=True),
           doc="when they came; null = link configData (again after an install)"),
    Column("staged_sha256", String(64),
           doc="the package the device staged in the background (issue 14): verified, "
               "not installed"),
)

registration_failures = Table(
    "registration_failures",
    METADATA,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("site_id", String(63), nullable=False),
    Column("client", String(100), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)
Index("registration_failures_site", registration_failures.c.site_id, registration_failures.c.at)
Index("registration_failures_client", registration_failures.c.client,
      registration_failures.c.at)

site_updates = Table(
    "site_updates",
    METADATA,
    Column("site_id", String(63), primary_key=True),
    Column("update_id", String(64), nullable=False),
    Column("phase", String(20), nullable=False),
    Column("product", String(63)),
    Column("version", String(64)),
    Column("sha256", String(64)),
    Column("size", BigInteger),
    Column("url", Text),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

notifications = Table(
    "notifications",
    METADATA,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("site_id", String(63), nullable=False),
    Column("serial", String(64), nullable=False),
    Column("update_id", String(64), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("correlation_id", String(64), nullable=False),
    Column("cause_id", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True), doc="first handed to a long-poll"),
    Column("acked_at", DateTime(timezone=True)),
    Column("overdue_at", DateTime(timezone=True), doc="NotDelivered published at"),
    UniqueConstraint("request_id", "serial", name="notifications_request_serial"),
)
Index("notifications_device", notifications.c.site_id, notifications.c.serial,
      notifications.c.acked_at)
Index("notifications_deadline", notifications.c.created_at,
      postgresql_where=text("acked_at IS NULL AND overdue_at IS NULL"),
      sqlite_where=text("acked_at IS NULL AND overdue_at IS NULL"))

code_exchanges = Table(
    "code_exchanges",
    METADATA,
    Column("exchange_id", String(32), primary_key=True),
    Column("site_id", String(63), nullable=False),
    Column("serial", String(64), nullable=False),
    Column("action", String(10), nullable=False),
    Column("code1", String(6), nullable=False),
    Column("code2", String(6), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("used_at", DateTime(timezone=True)),
)
Index("code_exchanges_device", code_exchanges.c.site_id, code_exchanges.c.serial,
      code_exchanges.c.created_at)

site_packages = Table(
    "site_packages",
    METADATA,
    Column("site_id", String(63), primary_key=True),
    Column("product", String(63), primary_key=True),
    Column("version", String(64), primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("url", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# --- hawkBit DDI (D14): one row per deployment shown to a DDI device ------------------------

ddi_actions = Table(
    "ddi_actions",
    METADATA,
    Column("action_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("site_id", String(63), nullable=False),
    Column("serial", String(64), nullable=False),
    Column("purpose", String(16), nullable=False, doc="update / site_version (D10)"),
    Column("update_id", String(64)),
    Column("product", String(63), nullable=False),
    Column("version", String(64), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("url", Text, nullable=False),
    Column("served_update", String(8), doc="deployment.update last shown: skip / forced"),
    Column("staged", Boolean, nullable=False, server_default=text("false")),
    Column("cancel_requested", Boolean, nullable=False, server_default=text("false")),
    Column("outcome", String(16), doc="null = open; installed / failed / skipped / ..."),
    Column("details", Text, doc="the agent's last details lines"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True)),
)
Index("ddi_actions_device", ddi_actions.c.site_id, ddi_actions.c.serial)

ddi_models = Table(
    "ddi_models",
    METADATA,
    Column("site_id", String(63), primary_key=True),
    Column("model", String(100), primary_key=True),
    Column("waiting", String(10), nullable=False, doc="staged / admin (domain.ddi.Waiting)"),
    Column("artifact_suffix", String(16), nullable=False, doc="e.g. .swu, .raucb"),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

ddi_join_requests = Table(
    # An unknown serial that presented its site's GatewayToken (issue 15 §4): registered only
    # once the site admin approves it.
    "ddi_join_requests",
    METADATA,
    Column("site_id", String(63), primary_key=True),
    Column("serial", String(64), primary_key=True),
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
)

ddi_gateway_tokens = Table(
    "ddi_gateway_tokens",
    METADATA,
    Column("site_id", String(63), primary_key=True),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("issued_at", DateTime(timezone=True), nullable=False),
)

package_targets = Table(
    # The TUF target path of each package announced to the gateway (issue 10): a device that
    # verifies TUF itself is told where to look the package up. Read only by the directive.
    "package_targets",
    METADATA,
    Column("sha256", String(64), primary_key=True),
    Column("target", Text, nullable=False),
)

# the site's next release of each product, downloaded and verified: devices may stage it
site_offers = Table(
    "site_offers",
    METADATA,
    Column("site_id", String(63), primary_key=True),
    Column("product", String(63), primary_key=True),
    Column("version", String(64), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("url", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# devices downloading the site's next release in the background now (at most N per site)
staging_slots = Table(
    "staging_slots",
    METADATA,
    Column("site_id", String(63), primary_key=True),
    Column("serial", String(64), primary_key=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

outbox = outbox_table(METADATA)
inbox = inbox_table(METADATA)
