"""The demo's mail catcher: an SMTP server on loopback that keeps every mail as a file.

`open311 demo` starts it and points `notifications.email` at it, so the updates a reporter
asks for on the report page land here instead of anyone's inbox: each message becomes
`<folder>/<time>-<n>.eml` (a standard file any mail program opens), and the demo's page
`/demo/mail` lists them. It is not part of the gateway: nothing but the demo uses it.

Run it on its own with `python -m open311.demo.mailcatcher --port 8325 --folder mail/`.
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class Catcher:
    """aiosmtpd's handler: every mail accepted, written whole, then renamed into place, so
    a reader of the folder never sees half a file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self._numbers = itertools.count(1)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8")
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{next(self._numbers):04d}.eml"
        partial = self.folder / f".{name}.part"
        partial.write_bytes(content)
        os.replace(partial, self.folder / name)
        return "250 Message caught by the open311 demo"


def start(folder: Path, port: int, host: str = "127.0.0.1") -> Controller:
    controller = Controller(Catcher(folder), hostname=host, port=port)
    controller.start()
    return controller


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8325)
    parser.add_argument("--folder", type=Path, required=True)
    args = parser.parse_args(argv)
    controller = start(args.folder, args.port, args.host)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        stop.wait()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
