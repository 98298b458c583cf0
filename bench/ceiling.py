"""The ceiling of `make bench`: a bare Flask app that answers each benchmarked request
with the bytes the gateway answered it with (fetched from the gateway first), under
gunicorn with the settings `open311 serve` uses (open311/server.py `gunicorn_options`)
and the same log set-up (access log on, through open311.logs). Whatever the gateway does
beyond this is the gateway's cost.

    python -m bench.ceiling ANSWERS.json --port P [--workers 2] [--threads 1]
                            [--worker-class sync|buffered|gthread]

ANSWERS.json: {"GET /open311/v2/services.json": [content type, body as latin-1 text], …},
keyed by method and path with its query string, as Flask's request.full_path has it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from flask import Flask, Response, request
from gunicorn.app.base import BaseApplication

from open311.logs import configure_logging
from open311.server import gunicorn_options


def make_app(answers: dict[str, tuple[str, bytes]]) -> Flask:
    app = Flask(__name__)

    @app.route("/", defaults={"path": ""}, methods=["GET", "POST"])
    @app.route("/<path:path>", methods=["GET", "POST"])
    def answer(path: str) -> Response:
        # full_path ends in "?" when there is no query string.
        found = answers.get(f"{request.method} {request.full_path.rstrip('?')}")
        if found is None:
            return Response(b"not a benchmarked request\n", status=404)
        content_type, body = found
        return Response(body, content_type=content_type)

    return app


def load_answers(path: Path) -> dict[str, tuple[str, bytes]]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    return {key: (kind, body.encode("latin-1")) for key, (kind, body) in raw.items()}


def save_answers(path: Path, answers: dict[str, tuple[str, bytes]]) -> None:
    raw = {key: [kind, body.decode("latin-1")] for key, (kind, body) in answers.items()}
    path.write_text(json.dumps(raw), encoding="utf-8")


class _Ceiling(BaseApplication):
    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ceiling", description=__doc__)
    parser.add_argument("answers", type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--worker-class", default="sync")
    args = parser.parse_args(argv)
    configure_logging("INFO", "text")
    app = make_app(load_answers(args.answers))
    options = gunicorn_options(args.host, args.port, args.workers, args.threads, args.worker_class)
    _Ceiling(app, options).run()


if __name__ == "__main__":
    main()
