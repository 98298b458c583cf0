"""Where photos are kept: a small store interface and the local-folder store.

Like the back-end adapters, a store knows nothing of the gateway: it keeps bytes under a
key and gives them back. Keys are chosen by the gateway (random, with an extension); a
store never interprets them beyond refusing path tricks.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

_KEY = re.compile(r"^[A-Za-z0-9_-]{8,80}\.(jpg|png|webp)$")


class MediaStore:
    """Base class: `put`, `get`, `delete`, `close`."""

    name = ""

    def put(self, key: str, data: bytes, content_type: str) -> None:
        raise NotImplementedError

    def get(self, key: str) -> bytes | None:
        """The bytes stored under `key`, or None when there are none."""
        raise NotImplementedError

    def delete(self, key: str) -> None:
        """Forget `key`; a key already gone is not an error."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections (nothing for the local store)."""


def check_key(key: str) -> str:
    if not _KEY.match(key):
        raise ValueError(f"not a media key: {key!r}")
    return key


class LocalMediaStore(MediaStore):
    """Files in one folder, written atomically (temporary file, then rename)."""

    name = "local"

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def _path(self, key: str) -> Path:
        return self.folder / check_key(key)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)
