"""Bearer tokens from configuration, each with a role and an estate scope (docs/contract.md §8).

Tokens come from ``ESTATE_ADMIN_TOKEN`` (a bootstrap admin) and a tokens file
(``ESTATE_TOKENS_FILE``, YAML: ``tokens: [{name, role, token | token_sha256, estates, crew}]``).
Only SHA-256 digests are kept in memory.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from devices.base import IdStr
from devices.inventory import Inventory, RefIssue


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
    digest: bytes  # SHA-256 of the token: the book never needs the token itself
    principal: Principal


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class TokenBook:
    def __init__(self, entries: Iterable[TokenEntry] = ()) -> None:
        self._entries = list(entries)

    def add(self, token: str, principal: Principal) -> None:
        if token:
            self._entries.append(TokenEntry(_digest(token), principal))

    def add_digest(self, sha256_hex: str, principal: Principal) -> None:
        self._entries.append(TokenEntry(bytes.fromhex(sha256_hex), principal))

    def find(self, token: str) -> Principal | None:
        # Compare every entry in constant time so a timing probe learns nothing.
        found, digest = None, _digest(token)
        for entry in self._entries:
            if hmac.compare_digest(entry.digest, digest):
                found = entry.principal
        return found

    def __len__(self) -> int:
        return len(self._entries)


class TokenConfig(BaseModel):
    """One bearer token of the tokens file (``ESTATE_TOKENS_FILE``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, description="Who uses it: recorded as `by` in histories")
    role: Role
    token: SecretStr | None = Field(None, description="The token itself (16+ characters)")
    token_sha256: str | None = Field(
        None, pattern=r"^[0-9a-f]{64}$", description="Or its SHA-256 in hex, to keep the token out of files"
    )
    estates: list[IdStr] = Field(default_factory=list, description="Estates it may see; empty: all")
    crew: IdStr | None = Field(None, description="The crew of a crew token")

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("a token needs at least 16 characters")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TokenConfig:
        if (self.token is None) == (self.token_sha256 is None):
            raise ValueError("give exactly one of token or token_sha256")
        if (self.role is Role.CREW) != (self.crew is not None):
            raise ValueError("a crew token names its crew, and only a crew token does")
        return self


class TokensFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tokens: list[TokenConfig] = Field(min_length=1)


def token_issues(config: TokensFile, inventory: Inventory) -> list[RefIssue]:
    """Estates and crews the tokens name must exist."""
    estates = {e.id for e in inventory.estates}
    crews = {c.id for c in inventory.crews}
    issues = [
        RefIssue(("tokens", i, "estates", j), f"no estate {estate!r} in the inventory")
        for i, entry in enumerate(config.tokens)
        for j, estate in enumerate(entry.estates)
        if estate not in estates
    ]
    issues += [
        RefIssue(("tokens", i, "crew"), f"no crew {entry.crew!r} in the inventory")
        for i, entry in enumerate(config.tokens)
        if entry.crew is not None and entry.crew not in crews
    ]
    return issues


def token_book(config: TokensFile, inventory: Inventory) -> TokenBook:
    """The tokens as principals; a crew token without estates sees its crew's estates."""
    book = TokenBook()
    crews = {c.id: c for c in inventory.crews}
    for entry in config.tokens:
        estates = entry.estates or (crews[entry.crew].estates if entry.crew in crews else [])
        principal = Principal(entry.name, entry.role, frozenset(estates), entry.crew)
        if entry.token is not None:
            book.add(entry.token.get_secret_value(), principal)
        else:
            book.add_digest(entry.token_sha256 or "", principal)
    return book


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
