"""Formats two parties share, so both sides import one definition and can never drift apart.

Not any service's domain: each module is the wire format of an agreement between a Lockstep
service and someone outside it, like the envelope and the event catalogue are between services.

- ``confirmation_code`` — the site ↔ vendor confirmation code of a release (U13).
- ``offline_codes`` — the device ↔ gateway three-code exchange formulas (D8).
- ``device_registration`` — the device's proof of its secret when it registers again (D1).
- ``vendor_feed`` — the vendor feed's catalogue and entitlement records (R1, R4).

Pure: standard library and pydantic only.
"""
