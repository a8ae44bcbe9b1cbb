"""Rendered map code stays text: branca never compiles it as a Jinja template a second time.

branca's ``MacroElement.render`` renders an element's ``header``, ``html`` and
``script`` macros, then wraps each output in ``Element(output)``, which
compiles that output as a new Jinja template and renders it once more when the
page is written. Any ``{{ … }}``, ``{% … %}`` or ``{# … #}`` that the data put
in the output (a service's name, a scenario's label, a commune's name, all
written by users) was then evaluated on the server: ``{{ 7*7 }}`` became
``49``, a lone ``{%`` made the page fail, and an expression reaching Python
objects could run code (server-side template injection). It also cost a
compilation of every rendered fragment (0.3 s for the Gers page's 1.6 MB
shared GeoJSON).

:func:`install` replaces ``MacroElement.render`` by :func:`render_macro`, the
same steps with the outputs kept as :class:`LiteralText`. The page is byte for
byte what branca wrote for data without template syntax (Jinja drops a single
trailing newline of a template; :class:`LiteralText` does the same), and
writes template syntax in data as it is. :func:`maps.render.render_page`
installs it before every render.
"""

from __future__ import annotations

from typing import Any

from branca.element import Element, Figure, MacroElement


class LiteralText(Element):
    """An element that writes its text as it is (no template, no second evaluation).

    Parameters
    ----------
    text
        Rendered HTML or JavaScript.
    """

    def __init__(self, text: str) -> None:
        super().__init__()
        self._name = "LiteralText"
        # what jinja2.Template(text).render() returned: the text less one trailing newline
        self.text = text[:-1] if text.endswith("\n") else text

    def render(self, **kwargs: Any) -> str:
        """The text, unchanged."""
        return self.text


def render_macro(self: MacroElement, **kwargs: Any) -> None:
    """``MacroElement.render`` with each macro's output kept as :class:`LiteralText`.

    Parameters
    ----------
    self
        The element (any ``MacroElement``: folium's layers, this package's controls).
    **kwargs
        Passed to the macros and to the children's ``render``, as branca does.
    """
    figure = self.get_root()
    if not isinstance(figure, Figure):
        raise TypeError("un élément de carte se rend dans une figure folium (folium.Map)")
    module = self._template.module.__dict__
    for part in ("header", "html", "script"):
        macro = module.get(part)
        if macro is not None:
            getattr(figure, part).add_child(
                LiteralText(str(macro(self, kwargs))), name=self.get_name()
            )
    for element in self._children.values():
        element.render(**kwargs)


def install() -> None:
    """Make every ``MacroElement`` render through :func:`render_macro` (idempotent)."""
    if MacroElement.render is not render_macro:
        MacroElement.render = render_macro  # type: ignore[method-assign]
