"""open311: an Open311 GeoReport v2 gateway.

`create_app()` builds the Flask application; nothing happens at import time.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from flask_cors import CORS

from .catalog import ConfigError
from .db import Database, database_url
from .errors import register_error_handlers
from .gateway import Gateway
from .i18n import install_babel
from .input_guard import install_input_guard
from .lean_flask import GatewayFlask
from .limits import install_limits
from .logs import install_redaction
from .origin import install_origin
from .startup import build_parts
from .wsgi_fixes import MergeSlashes, install_chunked_body_limit

DEMO_CONFIG = Path(__file__).parent / "demo" / "config.yaml"
# `open311 demo --region NAME`: a whole region's towns behind one front door.
DEMO_REGIONS = {"connecticut": Path(__file__).parent / "demo" / "region-connecticut.yaml"}
API_PREFIX = "/open311/v2"


def config_path(explicit: str | os.PathLike[str] | None = None, *, demo: bool = False) -> Path:
    """The configuration file: the one given, else OPEN311_CONFIG. The bundled demo's
    stands in only where asked for (`open311 demo`, tests): a production host that
    forgot the variable must not serve the demo catalogue and deliver to its back-ends."""
    given = explicit or os.environ.get("OPEN311_CONFIG")
    if given:
        return Path(given)
    if demo:
        return DEMO_CONFIG
    raise ConfigError(
        "no configuration: set OPEN311_CONFIG or pass --config FILE "
        "(`open311 demo` runs the bundled demo configuration)"
    )


def create_app(settings: Mapping[str, Any] | None = None) -> Flask:
    """Build the gateway. Settings: CONFIG (YAML path; required, or OPEN311_CONFIG, except
    with TESTING, where the demo's stands in), DATABASE_URL, MAX_CONTENT_LENGTH,
    PROXY_HOPS, TESTING. Environment: OPEN311_CONFIG, OPEN311_DATABASE_URL,
    OPEN311_PROXY_HOPS."""
    settings = dict(settings or {})
    app = GatewayFlask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        MAX_FORM_MEMORY_SIZE=512 * 1024,
        JSON_SORT_KEYS=False,
    )
    app.config.update({k: v for k, v in settings.items() if k.isupper()})
    if not app.config.get("SECRET_KEY"):
        # Signs unsubscribe links and derives the web front's key: set OPEN311_SECRET_KEY
        # when more than one process serves (a random one is per process).
        app.config["SECRET_KEY"] = os.environ.get("OPEN311_SECRET_KEY")
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = secrets.token_hex(32)
        # The staff pages refuse to sign anyone in on a per-process key (staff_web).
        app.config["SECRET_KEY_IS_RANDOM"] = True
    parts = build_parts(config_path(settings.get("CONFIG"), demo=bool(settings.get("TESTING"))))
    # The web processes deliver nothing, but a bad adapter setting must stop them too.
    parts.close_adapters()
    catalog = parts.catalog
    db = Database(database_url(settings.get("DATABASE_URL")), "open311-api")
    app.extensions["open311"] = Gateway(catalog=catalog, router=parts.router, db=db)

    from .api import (
        coverage,
        discovery,
        docs,
        exports,
        ops,
        requests,
        services,
        staff,
        updates,
        webhook,
    )
    from .metrics import install_request_metrics

    blueprints = (
        discovery.bp,
        services.bp,
        requests.bp,
        updates.bp,
        staff.bp,
        webhook.bp,
        coverage.bp,
        exports.bp,
    )
    for blueprint in blueprints:
        app.register_blueprint(blueprint, url_prefix=API_PREFIX)
    app.register_blueprint(docs.bp)
    app.register_blueprint(ops.bp)  # /healthz, /readyz, /metrics
    # Discovery also at the root, where people and some clients look for it first.
    app.register_blueprint(discovery.bp, name="root_discovery")
    from .api.caching import install_caching

    install_caching(app, ("discovery.", "root_discovery.", "services.", "requests.", "updates."))
    from . import staff_web
    from .api.media import install_media
    from .web import install_pages

    install_media(app)

    install_babel(app)
    install_pages(app)
    staff_web.install(app)
    register_error_handlers(app)
    install_origin(app)
    install_chunked_body_limit(app)  # after install_media's hook, before any reads a body
    install_input_guard(app, API_PREFIX)
    install_request_metrics(app)
    install_limits(app, catalog)
    install_redaction(app.logger)
    # Public data for browser apps: any origin may read; no cookies are involved.
    CORS(app, resources={r"/*": {"origins": "*"}}, send_wildcard=True, supports_credentials=False)

    hops = int(settings.get("PROXY_HOPS") or os.environ.get("OPEN311_PROXY_HOPS") or 0)
    wsgi: Any = MergeSlashes(app.wsgi_app)
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        wsgi = ProxyFix(wsgi, x_for=hops, x_proto=hops, x_host=hops)
    app.wsgi_app = wsgi  # type: ignore[method-assign]
    return app
