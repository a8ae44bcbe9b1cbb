"""Where a map page loads Leaflet's JavaScript and CSS and its tiles from.

By default (offline) a page carries Leaflet itself: the JavaScript and CSS of
the Python package ``xstatic-leaflet`` (Leaflet 1.9.3, folium's version; its
images as ``data:`` URIs) are written into the page, so that a ``map.html``
opened from a shared drive or served on an intranet calls no other server
but its tile server (:func:`inline_asset`). The maps of this package only
need Leaflet: their markers are inline SVG, their popups plain Leaflet, so
:func:`apply_assets` drops jQuery, Bootstrap, awesome-markers and Font
Awesome from the page; an element added later that needs one of them (a
``folium.Popup`` needs jQuery, a ``folium.Icon`` awesome-markers) or a folium
plugin makes an offline page fail with a clear error rather than call a CDN.

:class:`AssetConfig` with a ``base_url`` points every script and stylesheet
of the page under that URL instead, with the file layout of npm's
``node_modules`` folder (``<base_url>/leaflet/dist/leaflet.js``), so that
serving the ``node_modules`` folder of::

    npm install leaflet@1.9 jquery@3 leaflet.awesome-markers@2 \\
        @fortawesome/fontawesome-free@6 bootstrap@5

as static files at ``base_url`` is enough (:func:`local_asset_files` lists the
files; :func:`install_local_assets` copies just those). Two folium
stylesheets have no npm package and are dropped when self-hosting:
Bootstrap 3's glyphicons (use ``folium.Icon(prefix="fa")``) and
``leaflet.awesome.rotate.css`` (``Icon(angle=...)`` does not rotate).
``AssetConfig(cdn=True)`` keeps folium's CDN URLs (jsDelivr, cdnjs...).
"""

from __future__ import annotations

import base64
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from maps.errors import MapError

if TYPE_CHECKING:
    import folium

OSM_TILES_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_TILES_ATTRIBUTION = (
    '&copy; <a href="https://www.openstreetmap.org/copyright">les contributeurs d’OpenStreetMap</a>'
)
NPM_INSTALL = (
    "npm install leaflet@1.9 jquery@3 leaflet.awesome-markers@2 "
    "@fortawesome/fontawesome-free@6 bootstrap@5"
)
"""The command that fetches every file of :data:`ASSET_FILES` into ``node_modules``."""

INLINE_PREFIX = "coverage-inline:"
"""The URL given to an asset written into the page (replaced by its text at render)."""
INLINE_ASSETS: frozenset[str] = frozenset({"leaflet", "leaflet_css"})
"""folium assets written into offline pages (from ``xstatic-leaflet``)."""

_MAPPED_ATTR = "_coverage_assets"
_BUILT_ATTR = "_coverage_built"
_ORIGINAL_ATTR = "_coverage_original_assets"


@dataclass(frozen=True)
class AssetFile:
    """One script or stylesheet folium may put in a page, and where npm puts it.

    Attributes
    ----------
    name
        folium's key for it (``"leaflet"``, ``"leaflet_css"``...).
    kind
        ``"js"`` or ``"css"``.
    package
        The npm package that holds it.
    version
        The npm version range to install (``leaflet@1.9``).
    path
        Its path inside the package.
    companions
        Files the stylesheet loads by relative URL (images, fonts), inside the package.
    """

    name: str
    kind: Literal["js", "css"]
    package: str
    version: str
    path: str
    companions: tuple[str, ...] = ()

    @property
    def url_path(self) -> str:
        """Its path under the base URL (``leaflet/dist/leaflet.js``): npm's layout."""
        return f"{self.package}/{self.path}"

    def files(self) -> list[str]:
        """Every path under the base URL it needs (itself and its companions)."""
        return [self.url_path, *(f"{self.package}/{c}" for c in self.companions)]


_LEAFLET_IMAGES = tuple(
    f"dist/images/{name}"
    for name in (
        "layers.png",
        "layers-2x.png",
        "marker-icon.png",
        "marker-icon-2x.png",
        "marker-shadow.png",
    )
)
_AWESOME_IMAGES = tuple(
    f"dist/images/{name}"
    for name in (
        "markers-soft.png",
        "markers-soft@2x.png",
        "markers-shadow.png",
        "markers-shadow@2x.png",
        "markers-matte.png",
        "markers-matte@2x.png",
        "markers-plain.png",
    )
)
_FA_FONTS = tuple(
    f"webfonts/{name}.{ext}"
    for name in ("fa-solid-900", "fa-regular-400", "fa-brands-400", "fa-v4compatibility")
    for ext in ("woff2", "ttf")
)

ASSET_FILES: tuple[AssetFile, ...] = (
    AssetFile("leaflet", "js", "leaflet", "1.9", "dist/leaflet.js"),
    AssetFile("leaflet_css", "css", "leaflet", "1.9", "dist/leaflet.css", _LEAFLET_IMAGES),
    AssetFile("jquery", "js", "jquery", "3", "dist/jquery.min.js"),
    AssetFile("bootstrap", "js", "bootstrap", "5", "dist/js/bootstrap.bundle.min.js"),
    AssetFile("bootstrap_css", "css", "bootstrap", "5", "dist/css/bootstrap.min.css"),
    AssetFile(
        "awesome_markers", "js", "leaflet.awesome-markers", "2", "dist/leaflet.awesome-markers.js"
    ),
    AssetFile(
        "awesome_markers_css",
        "css",
        "leaflet.awesome-markers",
        "2",
        "dist/leaflet.awesome-markers.css",
        _AWESOME_IMAGES,
    ),
    AssetFile(
        "awesome_markers_font_css",
        "css",
        "@fortawesome/fontawesome-free",
        "6",
        "css/all.min.css",
        _FA_FONTS,
    ),
)
"""Every folium default asset that can be self-hosted, by folium's name."""

NOT_SELF_HOSTED: frozenset[str] = frozenset({"glyphicons_css", "awesome_rotate_css"})
"""folium assets without an npm package: dropped from self-hosted pages."""

_BY_NAME = {asset.name: asset for asset in ASSET_FILES}
_LEAFLET_ONLY = ("leaflet", "leaflet_css")
_ICON_ASSETS = (
    "awesome_markers",
    "awesome_markers_css",
    "awesome_markers_font_css",
    "awesome_rotate_css",
    "glyphicons_css",
)


@dataclass(frozen=True)
class AssetConfig:
    """Where the page's scripts, stylesheets and tiles come from.

    Parameters
    ----------
    base_url
        ``None`` (default): Leaflet is written into the page (offline, see
        :func:`inline_asset`). Otherwise every script and stylesheet URL
        becomes ``<base_url>/<npm package>/<path>`` (see
        :func:`local_asset_files`); an absolute path (``"/assets"``) or a
        full URL. A folium plugin whose assets are not known here makes
        rendering fail rather than call a CDN.
    tiles_url
        Leaflet URL template of the background tiles; default OpenStreetMap's
        tile server (``https://tile.openstreetmap.org/{z}/{x}/{y}.png``).
    tiles_attribution
        Attribution of those tiles (HTML); default OpenStreetMap's when
        ``tiles_url`` is not set, required otherwise.
    tiles
        ``False`` draws no background at all (data layers only).
    tiles_max_zoom
        Highest zoom the tile server serves.
    cdn
        ``True`` keeps folium's CDN URLs (the page then needs the Internet).
    """

    base_url: str | None = None
    tiles_url: str | None = None
    tiles_attribution: str | None = None
    tiles: bool = True
    tiles_max_zoom: int = 19
    cdn: bool = False

    def __post_init__(self) -> None:
        if self.base_url is not None and not self.base_url.strip():
            raise MapError(
                "AssetConfig: base_url is empty; use None for assets inlined in the page"
            )
        if self.base_url is not None and self.cdn:
            raise MapError(
                "AssetConfig : base_url et cdn=True s’excluent (fichiers servis sous base_url, "
                "ou CDN de folium)"
            )
        if self.tiles_url is not None and self.tiles_attribution is None:
            raise MapError(
                "AssetConfig: tiles_attribution is required with tiles_url "
                "(the tile provider's copyright line)"
            )

    @property
    def inline(self) -> bool:
        """Whether Leaflet is written into the page (neither ``base_url`` nor ``cdn``)."""
        return self.base_url is None and not self.cdn

    @property
    def tile_template(self) -> str:
        """The tile URL template in use."""
        return self.tiles_url or OSM_TILES_URL

    @property
    def tile_attribution(self) -> str:
        """The tile attribution in use (HTML)."""
        return self.tiles_attribution or OSM_TILES_ATTRIBUTION

    def asset_url(self, name: str, default_url: str) -> str | None:
        """The URL of one folium asset under this configuration (``None``: drop it).

        Raises
        ------
        MapError
            If assets are inlined or self-hosted and ``name`` has no local copy.
        """
        if self.cdn:
            return default_url
        if self.inline:
            if name in INLINE_ASSETS:
                return INLINE_PREFIX + name
            if name in NOT_SELF_HOSTED:
                return None
            raise MapError(
                f"la ressource « {name} » ({default_url}) n’a pas de copie locale : une carte "
                "hors ligne ne contient que Leaflet ; retirez l’élément qui en a besoin, ou "
                "utilisez AssetConfig(base_url=...) (fichiers npm servis localement) ou "
                "AssetConfig(cdn=True)"
            )
        if name in NOT_SELF_HOSTED:
            return None
        asset = _BY_NAME.get(name)
        if asset is None:
            raise MapError(
                f"asset '{name}' ({default_url}) has no self-hosted copy: with "
                f"AssetConfig(base_url={self.base_url!r}) the page would call a third-party "
                "server; remove the plugin that needs it or add it to maps.assets.ASSET_FILES"
            )
        return f"{self.base_url.rstrip('/')}/{asset.url_path}"


_CSS_IMAGE_RE = re.compile(r"url\((images/[\w.@-]+\.png)\)")


@cache
def inline_asset(name: str) -> str:
    """The text of an asset written into offline pages, from the package ``xstatic-leaflet``.

    Parameters
    ----------
    name
        ``"leaflet"`` (``leaflet.js``) or ``"leaflet_css"`` (``leaflet.css``, its
        images written as ``data:`` URIs).

    Raises
    ------
    MapError
        If ``name`` is not one of :data:`INLINE_ASSETS` or the package is missing.
    """
    if name not in INLINE_ASSETS:
        raise MapError(f"unknown inline asset '{name}' (known: {', '.join(sorted(INLINE_ASSETS))})")
    try:
        from xstatic.pkg import leaflet
    except ImportError:
        raise MapError(
            "le paquet Python xstatic-leaflet est absent : pip install xstatic-leaflet "
            "(Leaflet écrit dans les pages hors ligne)"
        ) from None
    folder = Path(leaflet.BASE_DIR)
    if name == "leaflet":
        return (folder / "leaflet.js").read_text("utf-8")
    css = (folder / "leaflet.css").read_text("utf-8")

    def data_uri(match: re.Match[str]) -> str:
        encoded = base64.b64encode((folder / match.group(1)).read_bytes()).decode("ascii")
        return f"url(data:image/png;base64,{encoded})"

    return _CSS_IMAGE_RE.sub(data_uri, css)


def local_asset_files(names: tuple[str, ...] | None = None) -> list[dict[str, str]]:
    """The files a base URL must serve, and where npm puts them.

    Parameters
    ----------
    names
        folium asset names (default: all of :data:`ASSET_FILES`; the maps of
        this package need only ``("leaflet", "leaflet_css")``).

    Returns
    -------
    list of dict
        One row per file: ``url_path`` (under the base URL), ``package``,
        ``npm`` (the install spec, ``leaflet@1.9``), ``node_modules_path``
        (where ``npm install`` puts it, relative to the folder it ran in),
        ``asset`` (folium's name).
    """
    chosen = ASSET_FILES if names is None else tuple(_lookup(n) for n in names)
    rows = []
    for asset in chosen:
        for url_path in asset.files():
            rows.append(
                {
                    "asset": asset.name,
                    "url_path": url_path,
                    "package": asset.package,
                    "npm": f"{asset.package}@{asset.version}",
                    "node_modules_path": f"node_modules/{url_path}",
                }
            )
    return rows


def _lookup(name: str) -> AssetFile:
    try:
        return _BY_NAME[name]
    except KeyError:
        known = ", ".join(_BY_NAME)
        raise MapError(f"unknown asset '{name}' (known: {known})") from None


def install_local_assets(
    node_modules: str | Path, dest: str | Path, *, names: tuple[str, ...] | None = None
) -> list[Path]:
    """Copy the files a base URL must serve from a ``node_modules`` folder into ``dest``.

    Parameters
    ----------
    node_modules
        The ``node_modules`` folder of an ``npm install`` (see :data:`NPM_INSTALL`).
    dest
        Folder to serve at the base URL; the npm layout is kept.
    names
        folium asset names (default all).

    Returns
    -------
    list of Path
        The copied files.

    Raises
    ------
    MapError
        Naming the missing files and the npm command that provides them.
    """
    node_modules, dest = Path(node_modules), Path(dest)
    rows = local_asset_files(names)
    missing = [r for r in rows if not (node_modules / r["url_path"]).is_file()]
    if missing:
        packages = " ".join(sorted({r["npm"] for r in missing}))
        listed = ", ".join(r["url_path"] for r in missing[:5])
        raise MapError(
            f"{len(missing)} asset file(s) missing under {node_modules} ({listed}...); "
            f"run: npm install {packages}"
        )
    written = []
    for row in rows:
        target = dest / row["url_path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(node_modules / row["url_path"], target)
        written.append(target)
    return written


# --- applying a configuration to a folium map ------------------------------------------------


def attach(fmap: folium.Map, assets: AssetConfig | None, *, built: bool = True) -> None:
    """Remember the asset configuration of a map built here (used by :func:`apply_assets`)."""
    setattr(fmap, _MAPPED_ATTR, assets or AssetConfig())
    setattr(fmap, _BUILT_ATTR, built)


def config_of(fmap: folium.Map) -> AssetConfig:
    """The asset configuration attached to a map (default: Leaflet inlined, offline)."""
    return getattr(fmap, _MAPPED_ATTR, None) or AssetConfig()


def walk(element: Any) -> Iterator[Any]:
    """Every element of a folium tree, depth first, the element itself first."""
    yield element
    for child in list(getattr(element, "_children", {}).values()):
        yield from walk(child)


def _needed_extras(fmap: folium.Map) -> set[str]:
    """folium assets the elements of a map need beyond Leaflet itself."""
    from folium.map import Icon, Popup

    needed: set[str] = set()
    if fmap.objects_to_stay_in_front:
        needed.add("jquery")
    for element in walk(fmap):
        if isinstance(element, Popup) or getattr(element, "embed", True) is False:
            needed.add("jquery")
        elif isinstance(element, Icon):
            needed.update(("awesome_markers", "awesome_markers_css", "awesome_markers_font_css"))
            needed.add("awesome_rotate_css")
            if element.options.get("prefix", "glyphicon") == "glyphicon":
                needed.add("glyphicons_css")
    return needed


def apply_assets(fmap: folium.Map, assets: AssetConfig | None = None) -> None:
    """Point every script and stylesheet of a map's page where ``assets`` says.

    Maps built by this package keep only the assets their elements need
    (Leaflet, plus jQuery for ``folium.Popup`` and awesome-markers/Font
    Awesome for ``folium.Icon``); other maps keep folium's full list.
    Idempotent; called again by :func:`maps.render_html`.

    Raises
    ------
    MapError
        For a glyphicon ``folium.Icon`` or an unknown plugin asset on a
        self-hosted page.
    """
    import folium

    config = assets or config_of(fmap)
    setattr(fmap, _MAPPED_ATTR, config)
    # an offline page keeps only what its elements need, whoever built the map
    built = getattr(fmap, _BUILT_ATTR, False) or config.inline
    extras = _needed_extras(fmap) if built else set()
    if config.base_url is not None and "glyphicons_css" in extras:
        raise MapError(
            "a folium.Icon uses glyphicons, which cannot be self-hosted; "
            "use folium.Icon(icon=..., prefix='fa')"
        )
    for element in walk(fmap.get_root()):
        if not hasattr(element, "default_js"):
            continue
        original = getattr(element, _ORIGINAL_ATTR, None)
        if original is None:  # first application: remember the element's own lists
            original = (list(element.default_js), list(element.default_css))
            setattr(element, _ORIGINAL_ATTR, original)
        js, css = original
        if isinstance(element, folium.Map) and built:
            keep = set(_LEAFLET_ONLY) | extras
            js = [(n, u) for n, u in js if n in keep]
            css = [(n, u) for n, u in css if n in keep]
        element.default_js = _mapped(js, config)
        element.default_css = _mapped(css, config)


def _mapped(pairs: list[tuple[str, str]], config: AssetConfig) -> list[tuple[str, str]]:
    out = []
    for name, url in pairs:
        new = config.asset_url(name, url)
        if new is not None:
            out.append((name, new))
    return out
