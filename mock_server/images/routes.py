"""``POST /images/generations``: ``n`` real PNG or JPEG pictures of the asked size (``raster.py``),
the same for the same prompt and seed, as base64 or as a URL on this server.

A URL points at ``/_media/images/<name>``, which needs no key, as the service's CDN links need
none: the name is a digest of the tenant and the picture, so only whoever asked can know it. The
bytes are kept under the data dir, so a URL keeps working after a restart (not after a reset).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import threading
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from mock_server.catalogue.serverless import ImageModel, image_model, unavailable
from mock_server.core.errors import InvalidRequest, NotFound
from mock_server.core.ids import stable_int
from mock_server.core.offload import off_loop
from mock_server.deps import IdsDep, TenantDep
from mock_server.images.raster import jpeg, mosaic, png
from mock_server.spec.routing import SpecRequestDep, SpecRoute

__all__ = ["media_router", "router"]

router = APIRouter(prefix="/v1", tags=["Images"], route_class=SpecRoute)
media_router = APIRouter(include_in_schema=False)

MEDIA_PATH = "/_media/images"
MIN_SIDE = 64  # estimated: the service's smallest side is not published
_NAME = re.compile(r"[0-9a-f]{40}\.(png|jpeg)")
_TYPES = {"png": "image/png", "jpeg": "image/jpeg"}


def _check(model: ImageModel, body: dict[str, Any]) -> None:
    for side in ("width", "height"):
        value = body.get(side, 1024)
        if not MIN_SIDE <= value <= model.max_side:
            raise InvalidRequest(
                f"{side} must be between {MIN_SIDE} and {model.max_side} pixels for "
                f"{model.name} (got {value})",
                param=side,
            )
    n = body.get("n", 1)
    if not 1 <= n <= model.max_images:
        raise InvalidRequest(f"n must be between 1 and {model.max_images} (got {n})", param="n")
    steps = body.get("steps")
    if steps is not None and not 1 <= steps <= model.max_steps:
        raise InvalidRequest(
            f"steps must be between 1 and {model.max_steps} (got {steps})", param="steps"
        )


def _save(path: Path, image: bytes) -> None:
    """Written beside, then renamed: two requests for one image (its name is its content's
    hash) run in worker threads, and a client reading it meanwhile never sees half of it."""
    temp = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
    temp.write_bytes(image)
    os.replace(temp, path)


def _folder(request: Request) -> Path:
    """Under ``artifacts/``, which ``/_sim/reset`` empties with the rest of the state."""
    folder: Path = request.app.state.services.store.data_dir / "artifacts" / "images"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@router.post("/images/generations", response_model=None)
@off_loop
def create_image(
    request: Request, tenant: TenantDep, ids: IdsDep, valid: SpecRequestDep
) -> dict[str, Any]:
    body = valid.body
    model = image_model(body["model"])
    if model is None:
        raise unavailable(body["model"])
    _check(model, body)
    width, height = body.get("width", 1024), body.get("height", 1024)
    fmt = body.get("output_format", "jpeg")
    seed = body.get("seed")
    if seed is None:  # the service draws one; here the prompt decides, so reruns agree
        seed = stable_int(body["prompt"]) % 2**31
    data = []
    for index in range(body.get("n", 1)):
        picture = mosaic(width, height, stable_int(model.name, body["prompt"], seed, index))
        image = png(picture) if fmt == "png" else jpeg(picture)
        if body.get("response_format", "url") == "base64":
            encoded = base64.b64encode(image).decode()
            data.append({"index": index, "b64_json": encoded, "type": "b64_json"})
            continue
        digest = hashlib.sha256(f"{tenant}\x1f".encode() + image).hexdigest()[:40]
        name = f"{digest}.{fmt}"
        _save(_folder(request) / name, image)
        url = f"{str(request.base_url).rstrip('/')}{MEDIA_PATH}/{name}"
        data.append({"index": index, "url": url, "type": "url"})
    return {"id": f"img-{ids.uuid()}", "model": model.name, "object": "list", "data": data}


@media_router.get(MEDIA_PATH + "/{name}", response_model=None)
@off_loop
def image_file(request: Request, name: str) -> FileResponse:
    path = _folder(request) / name
    if not _NAME.fullmatch(name) or not path.is_file():
        raise NotFound("image", name, message=f"No image {name}")
    return FileResponse(path, media_type=_TYPES[name.rsplit(".", 1)[1]])
