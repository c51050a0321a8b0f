"""The API fixtures (a real gateway object on SQLite, tokens, a manual clock) for the KPI routes."""

from tests.api.conftest import client, clock, gateway

__all__ = ["client", "clock", "gateway"]
