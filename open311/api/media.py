"""Photos over HTTP: files sent with POST requests (multipart `media` / `media[]`), and
GET /media/<key> that serves them.

Settings (app config or environment): MEDIA_FOLDER (OPEN311_MEDIA_FOLDER, default
`instance/media`), MEDIA_MAX_BYTES (OPEN311_MEDIA_MAX_BYTES, per file, default 8 MiB),
MEDIA_MAX_FILES (OPEN311_MEDIA_MAX_FILES, default 3). A photo of a private report is
served only to a staff key of an agency the report went to, an admin key, or a member
of such an agency signed in to the staff pages (open311/staff_web/).
"""

from __future__ import annotations

import os
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, request, url_for
from sqlalchemy import or_, select

from adapters.media import LocalMediaStore, MediaStore
from schemas.requests import MEDIA_FIELDS

from ..errors import APIError
from ..models import Media
from ..origin import external
from ..photos import PhotoLimits, PhotoRejected, StoredPhoto, store_photos
from .params import caller, gateway

bp = Blueprint("media", __name__)
EXTENSION = "open311_media"


def _setting(app: Flask, name: str, default: str) -> str:
    return str(app.config.get(name) or os.environ.get(f"OPEN311_{name}") or default)


def install_media(app: Flask) -> None:
    limits = PhotoLimits(
        max_bytes=int(_setting(app, "MEDIA_MAX_BYTES", str(PhotoLimits.max_bytes))),
        max_files=int(_setting(app, "MEDIA_MAX_FILES", str(PhotoLimits.max_files))),
    )
    store = LocalMediaStore(_setting(app, "MEDIA_FOLDER", "instance/media"))
    app.extensions[EXTENSION] = (store, limits)
    app.register_blueprint(bp)

    @app.before_request
    def _room_for_photos() -> None:
        # Photos need more room than the 2 MB of form fields every other request gets.
        if (
            request.endpoint in ("requests.create", "web.report_send")
            and request.mimetype == "multipart/form-data"
        ):
            request.max_content_length = limits.max_files * limits.max_bytes + 1024 * 1024


def media_store() -> tuple[MediaStore, PhotoLimits]:
    found: tuple[MediaStore, PhotoLimits] = current_app.extensions[EXTENSION]
    return found


def photos_from_request() -> list[StoredPhoto]:
    """Every file under `media` or `media[]`, cleaned and stored; 400 for one that is not
    an accepted photo (then none is kept)."""
    files = [f for name in MEDIA_FIELDS for f in request.files.getlist(name) if f.filename]
    if not files:
        return []
    store, limits = media_store()
    try:
        return store_photos(store, [f.read(limits.max_bytes + 1) for f in files], limits)
    except PhotoRejected as exc:
        raise APIError(400, str(exc)) from exc


def photo_url(photo: StoredPhoto) -> str:
    # Stored with the report: from the configured site, never the Host of this POST.
    return external(url_for("media.photo", key=photo.key))


@bp.get("/media/<key>")
def photo(key: str) -> Any:
    """The photo (or its reduced copy, `?size=small`). Public reports' photos are public
    and cacheable; a private report's photo needs its agency's staff key or an admin key."""
    with gateway().db.read() as session:
        row = session.scalar(select(Media).where(or_(Media.key == key, Media.small_key == key)))
        if row is None:
            abort(404)
        private = row.request.private
        agencies = {d.destination for d in row.request.deliveries}
        small = request.args.get("size") == "small" or key == row.small_key
        stored_key = row.small_key if small else row.key
        content_type = "image/jpeg" if small else row.content_type
    if private:
        # A staff key, or a member signed in to the staff pages (the photo on the report page).
        from ..staff_web.views import signed_in

        member = signed_in() if current_app.config.get("STAFF_PAGES_ENABLED") else None
        who = caller() or (member.caller() if member else None)
        if who is None or not (
            who.role == "admin" or (who.role == "staff" and who.agency in agencies)
        ):
            raise APIError(404, "No such photo.")
    store, _ = media_store()
    data = store.get(stored_key)
    if data is None:
        abort(404)
    response = Response(data, content_type=content_type)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    if private:
        response.headers["Cache-Control"] = "private, no-store"
    else:
        response.headers["Cache-Control"] = "public, max-age=86400"
        response.add_etag()
        return response.make_conditional(request)
    return response
