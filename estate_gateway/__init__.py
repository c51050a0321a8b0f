"""The composition root: the ``estate-gateway`` command. It builds the gateway's parts from
settings (``gateway.service``) and serves the API (``api``) over them, so it depends on both and
neither depends on it: ``api`` → ``gateway`` is the only direction between the two packages
(tests/test_layering.py)."""
