"""Bearer tokens from configuration, each with a role and an estate scope (SPEC §8)."""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer


class Role(StrEnum):
    OPERATOR = "operator"
    CREW = "crew"
    MANAGER = "manager"
    ADMIN = "admin"
    SIMULATOR = "simulator"


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role
    #: Estates this token may see; empty means every estate.
    estates: frozenset[str] = field(default_factory=frozenset)
    crew: str | None = None

    def sees(self, estate: str) -> bool:
        return not self.estates or estate in self.estates


@dataclass(frozen=True)
class TokenEntry:
    token: str
    principal: Principal


class TokenBook:
    def __init__(self, entries: Iterable[TokenEntry] = ()) -> None:
        self._entries = list(entries)

    def add(self, token: str, principal: Principal) -> None:
        if token:
            self._entries.append(TokenEntry(token, principal))

    def find(self, token: str) -> Principal | None:
        # Compare every entry in constant time so a timing probe learns nothing.
        found = None
        for entry in self._entries:
            if hmac.compare_digest(entry.token.encode(), token.encode()):
                found = entry.principal
        return found


_bearer = HTTPBearer(auto_error=False)


def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    book: TokenBook = request.app.state.tokens
    principal = book.find(credentials.credentials)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "unknown token", headers={"WWW-Authenticate": "Bearer"}
        )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: Role) -> Any:
    def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles and principal.role is not Role.ADMIN:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {principal.role} may not do this")
        return principal

    return Depends(check)


def check_estate(principal: Principal, estate: str) -> None:
    if not principal.sees(estate):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"estate {estate!r} is outside this token's scope")
