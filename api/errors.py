"""The error answers the routes give, declared in the OpenAPI so a client (and schemathesis) knows
every status code an operation can return and the body that comes with it."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    """Every error answer: ``{"detail": ...}``."""

    detail: str | list[dict[str, Any]] = Field(
        description="A message, or (a request that fails validation) the fields at fault: loc, msg, type"
    )


_WHY = {
    400: "The body is not JSON text (e.g. not UTF-8)",
    401: "No bearer token, or one the gateway does not know",
    403: "The token's role or estate scope does not allow this",
    404: "No such object (or estate, or device)",
    409: "The object's state does not allow this now (e.g. the alert or order is closed)",
    422: "Invalid input: out of range, the wrong type, NaN or Infinity, or a rule of the domain",
    429: "Too many requests of this kind are waiting: try again",
    501: "Not served by this gateway's configuration",
    503: "The store behind it does not answer now (e.g. InfluxDB is down): try again",
    504: "The part of the gateway that does it did not answer in time",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route or router: these codes, each with :class:`ErrorBody` as JSON.

    The schema is given inline with its media type, not as ``model``: FastAPI files a model's
    schema under the route's own media type, which for a page (``text/html``) is not what an
    error answer is."""
    content = {"application/json": {"schema": ErrorBody.model_json_schema()}}
    return {code: {"description": _WHY[code], "content": content} for code in codes}


#: A route that acts on one object named in its path, with a JSON body.
ACT_ON_ONE = errors(400, 404, 409)


def document(app: FastAPI) -> None:
    """Declare on every operation the answers it can give whatever it does: 422 in the shape of
    ours (a message, or the fields at fault), and 401 and 403 on every operation behind a bearer
    token (those with ``security`` in the OpenAPI). Done once for the app, so no router can
    forget them; a route's own ``responses`` add 404, 409 and so on."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            for operations in build()["paths"].values():
                for operation in operations.values():
                    responses = operation["responses"]
                    responses["422"] = errors(422)[422]  # FastAPI's own says a list only
                    if operation.get("security"):
                        for code, entry in errors(401, 403).items():
                            responses.setdefault(str(code), entry)
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]
