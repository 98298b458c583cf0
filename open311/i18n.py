"""Languages of the pages: Flask-Babel set up once for the resident and staff pages.

The locale is, in order: `?lang=` on the URL (remembered in a `lang` cookie by
`remember_language`), the `lang` cookie, the browser's Accept-Language, English.
Catalogues live in `open311/translations/<lang>/LC_MESSAGES/messages.po`; the compiled
`.mo` files are committed so a fresh clone runs as it is (`make translations` extracts,
updates and compiles them; see docs/configuration.md, "Languages").
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response, request
from flask_babel import Babel

LANGUAGES = {"en": "English", "es": "Español"}
DEFAULT_LANGUAGE = "en"
COOKIE = "lang"
TRANSLATIONS = Path(__file__).parent / "translations"


def select_locale() -> str:
    """The page's language code (one of LANGUAGES)."""
    for candidate in (request.args.get("lang"), request.cookies.get(COOKIE)):
        if candidate in LANGUAGES:
            return candidate
    return request.accept_languages.best_match(list(LANGUAGES)) or DEFAULT_LANGUAGE


def remember_language(response: Response) -> Response:
    """A language chosen with ?lang= sticks for the next pages (a preference, not a session)."""
    chosen = request.args.get("lang")
    if chosen in LANGUAGES and request.cookies.get(COOKIE) != chosen:
        response.set_cookie(COOKIE, chosen, max_age=365 * 24 * 3600, samesite="Lax")
    return response


def install_babel(app: Flask) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    Babel(app, locale_selector=select_locale)
    app.jinja_env.globals["LANGUAGES"] = LANGUAGES
