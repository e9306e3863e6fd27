"""The dashboard's HTML: one page shell (header, navigation, filters) and the sign-in page.

Pages carry no data: ``static/app.js`` fills them from the reports API with the session cookie.
The words are inlined as JSON so the script speaks the page's language.
"""

from __future__ import annotations

import html
import json
from typing import Any, Final

from seedcart.dashboard.i18n import Lang, strings

PAGES: Final = ("overview", "notes", "note", "breakdowns", "models")
_NAV: Final = (("overview", "/"), ("notes", "/notes"), ("breakdowns", "/breakdowns"), ("models", "/models"))


def _head(lang: Lang, title: str) -> str:
    return f"""<!doctype html>
<html lang="{"zh-CN" if lang == "zh" else "en"}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<link rel="stylesheet" href="/static/app.css">
</head>"""


def _lang_switch(lang: Lang, path: str) -> str:
    other: Lang = "en" if lang == "zh" else "zh"
    label = "English" if other == "en" else "中文"
    return f'<a class="lang" href="{html.escape(path)}?lang={other}">{label}</a>'


def render_page(page: str, lang: Lang, who: dict[str, Any], *, path: str, note_id: str | None = None) -> str:
    """A dashboard page for a signed-in caller."""
    t = strings(lang)
    current = "notes" if page == "note" else page
    nav = "".join(
        f'<a href="{href}" class="{"active" if name == current else ""}">{html.escape(t[name])}</a>'
        for name, href in _NAV)
    if who.get("brand_name"):
        scope = html.escape(str(who["brand_name"]))
    elif who.get("partner_id"):
        scope = html.escape(f"{t['partner']}: {who['partner_id']}")
    else:
        scope = "admin"
    config = {"page": page, "lang": lang, "noteId": note_id, "who": who, "t": t}
    payload = json.dumps(config, ensure_ascii=False).replace("</", "<\\/")
    return f"""{_head(lang, f"{t[current]} · {t['app']}")}
<body data-page="{page}">
<header class="top">
  <div class="brand"><span class="logo">◆</span> {html.escape(t['app'])}</div>
  <nav>{nav}</nav>
  <div class="who">
    <span class="scope" title="{html.escape(t['signed_in_as'])}">{scope}</span>
    {_lang_switch(lang, path)}
    <a class="lang" href="/docs">{html.escape(t['api_docs'])}</a>
    <form method="post" action="/v1/session/logout"><button class="link">{html.escape(t['sign_out'])}</button></form>
  </div>
</header>
<main id="main"><p class="muted">{html.escape(t['loading'])}</p></main>
<script>window.SC = {payload};</script>
<script src="/static/vendor/plotly.min.js"></script>
<script src="/static/app.js"></script>
</body>
</html>"""


def render_sign_in(lang: Lang, *, error: bool = False) -> str:
    """The sign-in page: one key field, posted as a form to ``/v1/session``."""
    t = strings(lang)
    message = f'<p class="error">{html.escape(t["bad_key"])}</p>' if error else ""
    return f"""{_head(lang, f"{t['sign_in']} · {t['app']}")}
<body class="signin">
<div class="card signin-card">
  <div class="brand big"><span class="logo">◆</span> {html.escape(t['app'])}</div>
  <p class="muted">{html.escape(t['tagline'])}</p>
  {message}
  <form method="post" action="/v1/session">
    <label for="key">{html.escape(t['key'])}</label>
    <input id="key" name="key" type="password" autocomplete="off" placeholder="{html.escape(t['key_hint'])}" required>
    <input type="hidden" name="next" value="/">
    <button type="submit" class="primary">{html.escape(t['sign_in'])}</button>
  </form>
  <p class="muted small">{_lang_switch(lang, "/")}</p>
</div>
</body>
</html>"""
