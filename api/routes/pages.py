"""The operator console (``/``) and the crew page (``/crew``), and their files under ``/static``.

Plain HTML, CSS and JavaScript modules, served as they are (no build step). The pages need no
token to load: they ask for one in the browser and send it with every API call.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

#: Shipped inside the ``api`` package (``package-data``), so it is there after ``pip install .``.
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
#: The pages change with the gateway: browsers check for a newer copy each time.
_NO_CACHE = {"Cache-Control": "no-cache"}

router = APIRouter(include_in_schema=False)


@router.get("/")
def console() -> FileResponse:
    return FileResponse(STATIC_DIR / "console.html", headers=_NO_CACHE)


@router.get("/crew")
def crew() -> FileResponse:
    return FileResponse(STATIC_DIR / "crew.html", headers=_NO_CACHE)


def mount(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
