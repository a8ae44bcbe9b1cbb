"""Where a map page loads Leaflet/folium's JavaScript and CSS and its tiles from.

By default a page keeps folium's CDN URLs (jsDelivr, cdnjs, code.jquery.com)
and OpenStreetMap's tile server. Public administrations often forbid calls to
third-party CDNs: :class:`AssetConfig` with a ``base_url`` points every
script and stylesheet of the page under that URL instead, with the file
layout of npm's ``node_modules`` folder (``<base_url>/leaflet/dist/leaflet.js``),
so that serving the ``node_modules`` folder of::

    npm install leaflet@1.9 jquery@3 leaflet.awesome-markers@2 \\
        @fortawesome/fontawesome-free@6 bootstrap@5

as static files at ``base_url`` is enough (:func:`local_asset_files` lists the
files; :func:`install_local_assets` copies just those). The maps of this
package only need Leaflet itself (``npm install leaflet@1.9``): their markers
are inline SVG, their popups plain Leaflet, so :func:`apply_assets` drops
jQuery, Bootstrap, awesome-markers and Font Awesome from the page unless an
element added later needs them (a ``folium.Popup`` needs jQuery, a
``folium.Icon`` needs awesome-markers and Font Awesome). Two folium
stylesheets have no npm package and are dropped when self-hosting:
Bootstrap 3's glyphicons (use ``folium.Icon(prefix="fa")``) and
``leaflet.awesome.rotate.css`` (``Icon(angle=...)`` does not rotate).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from maps.errors import MapError

if TYPE_CHECKING:
    import folium

OSM_TILES_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_TILES_ATTRIBUTION = (
    '&copy; <a href="https://www.openstreetmap.org/copyright">'
    "les contributeurs d’OpenStreetMap</a>"
)
NPM_INSTALL = (
    "npm install leaflet@1.9 jquery@3 leaflet.awesome-markers@2 "
    "@fortawesome/fontawesome-free@6 bootstrap@5"
)
"""The command that fetches every file of :data:`ASSET_FILES` into ``node_modules``."""

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
        ``None`` keeps folium's CDN URLs. Otherwise every script and
        stylesheet URL becomes ``<base_url>/<npm package>/<path>`` (see
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
    """

    base_url: str | None = None
    tiles_url: str | None = None
    tiles_attribution: str | None = None
    tiles: bool = True
    tiles_max_zoom: int = 19

    def __post_init__(self) -> None:
        if self.base_url is not None and not self.base_url.strip():
            raise MapError("AssetConfig: base_url is empty; use None for folium's CDN URLs")
        if self.tiles_url is not None and self.tiles_attribution is None:
            raise MapError(
                "AssetConfig: tiles_attribution is required with tiles_url "
                "(the tile provider's copyright line)"
            )

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
            If assets are self-hosted and ``name`` is not a known asset.
        """
        if self.base_url is None:
            return default_url
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
    """The asset configuration attached to a map (default: folium's CDNs)."""
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
    built = getattr(fmap, _BUILT_ATTR, False)
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
