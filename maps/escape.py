"""Escaping of every text that reaches a map page: HTML text, JSON and code in ``<script>``.

Labels, names and addresses come from scenarios and service lists that
anyone holding the write token can post, so nothing from a result is ever
written into a page unescaped:

- :func:`esc` for text inside HTML (popups, tooltips, legends, titles, the
  names of the layer control, which Leaflet writes as HTML);
- :func:`template`: every Jinja template of this package autoescapes, and its
  ``tojson`` writes JSON safe inside ``<script>`` (``<``, ``>``, ``&`` and
  ``'`` as ``\\u003c``...);
- :func:`guard_script` makes a whole inline script safe to embed, whatever a
  folium element or a caller's ``JsCode`` put in it: no ``</`` (which could
  close the ``<script>`` element) and no ``<!--``.
- :func:`plain_text` for matplotlib (static PNG maps), where ``$`` starts math.
"""

from __future__ import annotations

import html
import math
from typing import Any

import jinja2
import numpy as np
from markupsafe import Markup

_ENVIRONMENT = jinja2.Environment(autoescape=True)


def is_missing(value: Any) -> bool:
    """Whether a value is None, NaN or empty (written as nothing, or as ``—``)."""
    if value is None:
        return True
    if isinstance(value, float | np.floating):
        return not math.isfinite(float(value))
    return isinstance(value, str) and not value.strip()


def esc(value: Any) -> str:
    """HTML-escaped text of a value (empty for missing values).

    Parameters
    ----------
    value
        Any value; ``str(value)`` is escaped (``<``, ``>``, ``&``, both quotes).

    Returns
    -------
    str
        Text safe inside an HTML element or a quoted attribute.
    """
    return "" if is_missing(value) else html.escape(str(value), quote=True)


def template(source: str) -> jinja2.Template:
    """A Jinja template that autoescapes (``{{ x }}`` is HTML-escaped, ``|tojson`` is safe).

    Parameters
    ----------
    source
        The template text; a folium/branca ``MacroElement`` template with
        ``header``/``html``/``script`` macros works as with ``jinja2.Template``.
    """
    return _ENVIRONMENT.from_string(source)


def guard_script(code: str) -> Markup:
    """An inline script with every ``</`` written ``<\\/`` and every ``<!--`` as ``\\x3C!--``.

    Both rewrites leave the value of a JavaScript string, template literal or
    regular expression unchanged; outside them the sequences do not occur in
    valid code. So a label that slipped through unescaped into the code still
    cannot close the ``<script>`` element or switch the HTML parser into its
    escaped-script state.

    Parameters
    ----------
    code
        JavaScript source.

    Returns
    -------
    Markup
        The source, marked safe for a template.
    """
    return Markup(code.replace("</", "<\\/").replace("<!--", "\\x3C!--"))


def plain_text(value: Any) -> str:
    """Text for matplotlib: ``$`` escaped so that a label never starts mathtext."""
    return "" if is_missing(value) else str(value).replace("$", r"\$")
