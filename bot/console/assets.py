"""Static files under content-hashed URLs: /console/static/NAME.HASH.EXT, cached for a year."""

from __future__ import annotations

import hashlib
import mimetypes
from functools import lru_cache
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

PREFIX = "/console/static/"


@lru_cache(maxsize=1)
def manifest() -> dict[str, tuple[str, bytes]]:
    """Map each hashed name to (plain name, bytes), for every file in bot/console/static."""
    out: dict[str, tuple[str, bytes]] = {}
    for entry in files("bot.console").joinpath("static").iterdir():
        if not entry.is_file() or entry.name.startswith("."):
            continue
        data = entry.read_bytes()
        stem, dot, ext = entry.name.rpartition(".")
        digest = hashlib.sha256(data).hexdigest()[:12]
        out[f"{stem}.{digest}.{ext}" if dot else f"{ext}.{digest}"] = (entry.name, data)
    return out


@lru_cache(maxsize=64)
def url(name: str) -> str:
    """The hashed URL of a static file by its plain name (`console.css`)."""
    for hashed, (plain, _) in manifest().items():
        if plain == name:
            return PREFIX + hashed
    raise KeyError(name)


async def serve(request: Request) -> Response:
    found = manifest().get(str(request.path_params["name"]))
    if found is None:
        return PlainTextResponse("not found", status_code=404)
    plain, data = found
    media = mimetypes.guess_type(plain)[0] or "application/octet-stream"
    if media.startswith("text/") or media.endswith("javascript"):
        media += "; charset=utf-8"
    return Response(data, media_type=media, headers={"Cache-Control": "public, max-age=31536000, immutable",
                                                     "X-Content-Type-Options": "nosniff"})


def routes() -> list[Route]:
    return [Route(PREFIX + "{name}", serve, methods=["GET", "HEAD"])]
