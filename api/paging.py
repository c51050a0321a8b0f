"""One way to page a list, for every list that can grow without bound (devices, dead letters):
``limit`` items at most, a cursor to the next page, and the total in the caller's scope.

The body of a list stays what it was (the console and scripts read it as they did); the paging is
told in two headers, as GitHub's API does: ``X-Total-Count`` and ``Link: <…>; rel="next"``
(absent on the last page).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

#: ``responses={200: PAGE_HEADERS}``: the headers in the OpenAPI.
PAGE_HEADERS: dict[str, Any] = {
    "headers": {
        "X-Total-Count": {
            "description": "How many items match in the caller's scope, all pages together",
            "schema": {"type": "integer"},
        },
        "Link": {
            "description": 'The next page, `<url>; rel="next"`; absent on the last page',
            "schema": {"type": "string"},
        },
    }
}


def tell_page(request: Request, response: Response, total: int, after: dict[str, str | int] | None) -> None:
    """Set the paging headers; ``after``: the query parameters that ask for the next page, or
    None on the last page. The link is relative (a proxy in front keeps its own host)."""
    response.headers["X-Total-Count"] = str(total)
    if after is not None:
        url = request.url.include_query_params(**after)
        response.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'
