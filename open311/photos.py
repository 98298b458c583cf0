"""Photos sent with a report: checked by content, cleaned, reduced, stored.

A file is accepted when Pillow recognises it as JPEG, PNG or WebP (whatever its name or
declared type says), within the size and pixel caps. It is then re-encoded from its
pixels alone, so nothing of the original file survives: no EXIF block (GPS position,
camera make and serial, time), no XMP, no ICC comments. The camera's orientation tag is
applied to the pixels first so the photo stays upright. A reduced copy (at most
SMALL_EDGE pixels on the long side, JPEG) is made for listings.
"""

from __future__ import annotations

import io
import secrets
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from adapters.media import MediaStore

FORMATS = {
    "JPEG": ("jpg", "image/jpeg"),
    "PNG": ("png", "image/png"),
    "WEBP": ("webp", "image/webp"),
}
CONTENT_TYPES = {ext: ctype for ext, ctype in FORMATS.values()}
SMALL_EDGE = 640


@dataclass(frozen=True)
class PhotoLimits:
    max_bytes: int = 8 * 1024 * 1024  # per file, as sent
    max_files: int = 3  # per report
    max_pixels: int = 40_000_000  # width × height; larger is refused (decompression bombs)
    max_edge: int = 4096  # the stored copy is reduced to this long side


class PhotoRejected(Exception):
    """The file is not a photo the gateway accepts; the message is for the sender."""


@dataclass(frozen=True)
class StoredPhoto:
    key: str  # the cleaned full photo
    small_key: str  # the reduced copy
    content_type: str


def clean(data: bytes, limits: PhotoLimits) -> tuple[bytes, bytes, str]:
    """(full, small, extension): the photo re-encoded without metadata, and its reduced
    copy. Raises PhotoRejected for anything that is not an accepted image."""
    if len(data) > limits.max_bytes:
        raise PhotoRejected(f"A photo is limited to {limits.max_bytes // (1024 * 1024)} MB.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in FORMATS:
                raise PhotoRejected("A photo must be a JPEG, PNG or WebP image.")
            if image.width * image.height > limits.max_pixels:
                raise PhotoRejected("The photo has too many pixels.")
            image.load()
    except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise PhotoRejected("A photo must be a JPEG, PNG or WebP image.") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise PhotoRejected("The photo could not be read (damaged or cut short).") from exc
    ext = FORMATS[image.format][0]
    upright = ImageOps.exif_transpose(image)
    upright.thumbnail((limits.max_edge, limits.max_edge))
    full = _encode(upright, ext)
    small_image = upright.copy()
    small_image.thumbnail((SMALL_EDGE, SMALL_EDGE))
    return full, _encode(small_image, "jpg"), ext


def _encode(image: Image.Image, ext: str) -> bytes:
    """Pixels only: a new image from the pixel data, so no info (EXIF, XMP, text chunks)
    of the original can ride along."""
    mode = image.mode
    if ext == "jpg" and mode not in ("RGB", "L"):
        image, mode = image.convert("RGB"), "RGB"
    elif mode not in ("RGB", "RGBA", "L", "LA"):
        image, mode = image.convert("RGBA"), "RGBA"
    bare = Image.new(mode, image.size)
    bare.paste(image)
    out = io.BytesIO()
    if ext == "jpg":
        bare.save(out, "JPEG", quality=85, optimize=True)
    elif ext == "png":
        bare.save(out, "PNG", optimize=True)
    else:
        bare.save(out, "WEBP", quality=85)
    return out.getvalue()


def store_photos(store: MediaStore, files: list[bytes], limits: PhotoLimits) -> list[StoredPhoto]:
    """Clean every file first (all or none are accepted), then store them."""
    if len(files) > limits.max_files:
        raise PhotoRejected(f"At most {limits.max_files} photos per report.")
    cleaned = [clean(data, limits) for data in files]
    stored = []
    for full, small, ext in cleaned:
        name = secrets.token_urlsafe(18)
        photo = StoredPhoto(f"{name}.{ext}", f"{name}-small.jpg", CONTENT_TYPES[ext])
        store.put(photo.key, full, photo.content_type)
        store.put(photo.small_key, small, "image/jpeg")
        stored.append(photo)
    return stored
