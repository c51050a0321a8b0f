"""``GET /api/me``: who the token is and what it may do, so a page shows only the actions the
role may take (a manager sees no acknowledge button that would fail with a 403)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.auth import CurrentPrincipal, Role

router = APIRouter(prefix="/api", tags=["session"])

#: What each role may do, by the names the pages use; the routes' require_roles say the same
#: (tests/api/test_me.py calls each action with each role and compares). The console shows each
#: role only the views whose ability it has (api/static/console.js, ``NAV``).
ABILITIES: dict[str, frozenset[Role]] = {
    "alerts:read": frozenset({Role.OPERATOR, Role.MANAGER, Role.SIMULATOR}),
    "alerts:act": frozenset({Role.OPERATOR}),
    "orders:read": frozenset({Role.OPERATOR, Role.MANAGER, Role.CREW, Role.SIMULATOR}),
    "orders:manage": frozenset({Role.OPERATOR, Role.MANAGER}),
    "patrols:read": frozenset({Role.OPERATOR, Role.MANAGER, Role.SIMULATOR}),
    "journal:read": frozenset({Role.OPERATOR, Role.MANAGER}),
    "handovers:read": frozenset({Role.OPERATOR, Role.MANAGER}),
    "kpis:read": frozenset({Role.OPERATOR, Role.MANAGER}),
    "deadletters:read": frozenset({Role.OPERATOR, Role.MANAGER, Role.SIMULATOR}),
    "orders:step": frozenset({Role.OPERATOR, Role.CREW}),
    "handovers:write": frozenset({Role.OPERATOR}),
    "assets:read": frozenset({Role.OPERATOR, Role.MANAGER, Role.CREW}),
}


@router.get("/me", summary="The caller's name, role, estates, crew and what it may do")
def me(principal: CurrentPrincipal) -> dict[str, Any]:
    admin = principal.role is Role.ADMIN
    return {
        "name": principal.name,
        "role": principal.role.value,
        "estates": sorted(principal.estates),
        "crew": principal.crew,
        "can": sorted(name for name, roles in ABILITIES.items() if admin or principal.role in roles),
    }
