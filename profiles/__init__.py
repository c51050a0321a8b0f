"""Vendor payload profiles: a real device's own payload → the canonical messages of docs/contract.md §3.

A device names its profile in the inventory (``profile: hikvision-isapi``, plus its parameters); a
profile turns the bytes the device sends (on ``estate/{estate}/{kind}/{device}/raw``, on a topic
pattern of its own, or pushed to ``POST /api/ingest/{estate}/{device}``) into canonical messages,
which the gateway then validates, stores and feeds to the rules like any other (docs/contract.md §3.6).

Pure: no I/O, no clock, nothing executed from the inventory (paths are JMESPath expressions and
value tables, data only). Layering: beside ``devices`` (it reads the device registry); ``gateway``
decodes with it, ``simulators`` encode with it (:mod:`profiles.encode`).

- :mod:`profiles.config` — the inventory's models (user-defined profiles, Modbus register maps).
- :mod:`profiles.base` — what a profile returns, and how it fails.
- :mod:`profiles.hikvision`, :mod:`profiles.dahua`, :mod:`profiles.modbus`, :mod:`profiles.user`.
- :mod:`profiles.route` — topic → device → profile, the gateway's entry point.
"""
