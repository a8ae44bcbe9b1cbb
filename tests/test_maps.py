"""Maps built from a real Gers result: layers, classes, legend, portraits, assets, PNG export."""

from __future__ import annotations

import json
import math
import re
import struct
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

import maps
from coverage.errors import DataError
from maps import AssetConfig, MapError, UnknownEpciError
from maps.assets import ASSET_FILES, apply_assets, install_local_assets, local_asset_files
from maps.style import TIME_COLOURS, fr_minutes, fr_number, time_class, time_colour

BAS_ARMAGNAC = "243200409"  # CC du Bas Armagnac


def layers_of(fmap):
    """The map's layers by their name in the layer control."""
    return {
        child.layer_name: child
        for child in fmap._children.values()
        if hasattr(child, "layer_name") and getattr(child, "control", False)
    }


def shared_data(fmap):
    """The commune collection written once in the page."""
    from maps._controls import SharedData

    found = [c for c in fmap._children.values() if isinstance(c, SharedData)]
    assert len(found) == 1
    return found[0].data


def control_html(fmap, css_class: str) -> str:
    """The HTML of the map's box control with that CSS class (legend, title)."""
    from maps._controls import HtmlControl

    found = [
        c.html
        for c in fmap._children.values()
        if isinstance(c, HtmlControl) and css_class in c.css_class
    ]
    assert len(found) == 1
    return found[0]


def hand_class(minutes: float) -> int:
    """The 0–10–15–20–30–45+ classes, the slow obvious way."""
    if minutes is None or not math.isfinite(minutes):
        return -1
    for index, upper in enumerate((10, 15, 20, 30, 45)):
        if minutes < upper:
            return index
    return 5


@pytest.fixture(scope="module")
def full_map(gers_result):
    return maps.coverage_map(gers_result)


@pytest.fixture(scope="module")
def full_page(full_map):
    return maps.render_html(full_map)


# --- classes and formats ----------------------------------------------------------------------


def test_time_classes_boundaries() -> None:
    values = [0, 9.99, 10, 14.99, 15, 19.99, 20, 29.99, 30, 44.99, 45, 300, math.nan, math.inf]
    expected = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, -1, -1]
    assert time_class(values).tolist() == expected
    assert time_colour(12.0) == "#91cf60" and time_colour(None) == "#bdbdbd"
    assert time_colour(45.0) == "#d73027" and time_colour(3.0) == "#1a9850"


def test_french_number_formats() -> None:
    assert fr_number(192645) == "192\u202f645"
    assert fr_minutes(7.46) == "7,5 min"
    assert fr_minutes(float("nan")) == "—"


# --- the coverage map -------------------------------------------------------------------------


def test_choropleth_has_every_commune_with_its_class(full_map, gers_result) -> None:
    data = shared_data(full_map)
    features = data["features"]
    assert len(features) == 458
    communes = gers_result.layer("communes").set_index("insee_code")
    for feature in features:
        props = feature["properties"]
        for analysis in ("france_services", "tiers_lieu"):
            minutes = float(communes.loc[props["insee_code"], f"{analysis}__minutes_mean"])
            value = props["values"][analysis]
            assert value["time_class"] == hand_class(minutes), props["name"]
            assert value["colour"] == TIME_COLOURS[hand_class(minutes)]
    by_code = {f["properties"]["insee_code"]: f["properties"] for f in features}
    # hand-checked: Auch is 5 min from a France services, Nogaro 69 min from a tiers-lieu
    assert by_code["32013"]["values"]["france_services"]["colour"] == "#1a9850"  # < 10 min
    assert by_code["32296"]["values"]["tiers_lieu"]["colour"] == "#d73027"  # 45 min and more
    assert by_code["32208"]["values"]["tiers_lieu"]["colour"] == "#1a9850"  # Lectoure has one
    # WGS84 coordinates, inside the Gers
    west, south, east, north = shapely.geometry.shape(features[0]["geometry"]).bounds
    assert -0.5 < west < east < 1.3 and 43.2 < south < north < 44.1


def test_commune_popup_is_french_and_complete(full_map, gers_result) -> None:
    auch = next(
        f["properties"]
        for f in shared_data(full_map)["features"]
        if f["properties"]["insee_code"] == "32013"
    )
    popup = auch["values"]["france_services"]["popup"]
    nearest = (
        gers_result.layer("communes")
        .set_index("insee_code")
        .loc["32013", "france_services__nearest_service_name"]
    )
    assert "<b>Auch (32013)</b>" in popup
    assert "Habitants</th><td>22\u202f428" in popup
    assert "Temps moyen (France services)" in popup and "Au-delà de 30 min" in popup
    assert nearest.replace("'", "&#x27;") in popup
    # Auch has 22 428 inhabitants beyond 20 min of a tiers-lieu: ranked first
    assert "rang 1 sur" in auch["values"]["tiers_lieu"]["popup"]


def test_layers_services_and_underserved(full_map, gers_result) -> None:
    layers = layers_of(full_map)
    fs = layers["Services : France services (92)"]
    tl = layers["Services : Tiers-lieu solidaire (3)"]
    assert len(fs.data["features"]) == 92 and len(tl.data["features"]) == 3
    lombez = next(
        f for f in tl.data["features"] if f["properties"]["service_id"] == "tiers_lieux:tl-lombez"
    )
    assert "Localisation</th><td>commune" in lombez["properties"]["popup"]  # placed at the commune
    assert lombez["geometry"]["type"] == "Point"
    # underserved = communes with inhabitants beyond the reference threshold, as the table ranks
    table = gers_result.table("underserved_tiers_lieu")
    expected = int((table["pop_beyond_20"] > 0).sum())
    under = layers["Communes mal desservies : Tiers-lieux solidaires (au-delà de 20 min)"]
    assert under.feature_count() == expected > 300
    assert not any(name.startswith("Communes mal desservies : France services") for name in layers)
    # both choropleths are exclusive base layers, the first one shown
    fs_layer = layers["Temps d’accès : France services"]
    assert fs_layer.overlay is False and fs_layer.show is True
    assert layers["Temps d’accès : Tiers-lieux solidaires"].show is False


def test_isochrone_bands_and_catchments(full_map, gers_result) -> None:
    layers = layers_of(full_map)
    bands = layers["Isochrones : France services"].data["features"]
    assert [(b["properties"]["minutes_low"], b["properties"]["minutes_high"]) for b in bands] == [
        (0.0, 15.0),
        (15.0, 20.0),
        (20.0, 30.0),
    ]
    iso = gers_result.layer("isochrones")
    merged = iso[(iso["analysis"] == "france_services") & (iso["scope"] == "merged")]
    total = sum(b["properties"]["population"] for b in bands)
    assert total == pytest.approx(float(merged["population"].max()), abs=0.5)
    # bands do not overlap (difference of nested isochrones)
    shapes = [shapely.geometry.shape(b["geometry"]) for b in bands]
    overlap = shapely.intersection(shapes[0], shapes[1]).area / shapes[1].area
    assert overlap < 0.01
    catchments = gers_result.layer("catchments")
    for analysis, label in (
        ("france_services", "France services"),
        ("tiers_lieu", "Tiers-lieux solidaires"),
    ):
        layer = layers[f"Zones de desserte : {label}"]
        assert len(layer.data["features"]) == int((catchments["analysis"] == analysis).sum())
        assert layer.show is False


def test_legend_attribution_and_provenance_in_french(full_map, full_page, gers_result) -> None:
    assert '<html lang="fr">' in full_page
    legend = control_html(full_map, "coverage-legend")
    for text in (
        "moins de 10 min",
        "10 à 15 min",
        "45 min et plus",
        "Temps moyen des habitants de la commune",
        "Aucune commune n’a d’habitants au-delà de 30 min.",
        "Tiers-lieu solidaire (3)",
        "France services (92)",
        "vitesses « france »",
        "roads_gers_travelmapping.osm",
        "squelette des routes numérotées (autoroutes, nationales, départementales)",
        "source TravelMapping HighwayData, dérivé d’OpenStreetMap",
        "sans voies communales",
        "temps de manœuvre aux carrefours",
        "11/12/2025",
    ):
        assert text in legend, text
    count = int((gers_result.table("underserved_tiers_lieu")["pop_beyond_20"] > 0).sum())
    assert f"{count} communes mal desservies (habitants au-delà de 20 min)" in legend
    from jinja2.utils import htmlsafe_json_dumps

    assert str(htmlsafe_json_dumps(legend)) in full_page  # the page carries this legend
    # attribution: OSM contributors (tiles and network), IGN / INSEE, service producers
    body = full_page[full_page.index("<body>") :]  # after Leaflet's own code, inlined in the head
    parts = [json.loads(a) for a in re.findall(r"addAttribution\((.*?)\);", body)]
    text = " ".join(parts)
    assert "les contributeurs d’OpenStreetMap" in text
    assert "réseau : TravelMapping HighwayData, routes numérotées" in text
    assert "IGN, INSEE (Licence Ouverte)" in text
    assert "ANCT" in text and "GIP Gers Solidaire" in text
    assert "L.control.scale({imperial: false" in full_page


def test_one_analysis_map(gers_result) -> None:
    fmap = maps.coverage_map(gers_result, "tiers_lieu", isochrones=False, catchments=False)
    layers = layers_of(fmap)
    assert set(layers) == {
        "Temps d’accès : Tiers-lieux solidaires",
        "Communes mal desservies : Tiers-lieux solidaires (au-delà de 20 min)",
        "Services : Tiers-lieu solidaire (3)",
    }
    assert list(shared_data(fmap)["features"][0]["properties"]["values"]) == ["tiers_lieu"]
    with pytest.raises(DataError, match=r"no analysis 'mds'.*france_services, tiers_lieu"):
        maps.coverage_map(gers_result, "mds")


def test_result_map_written_by_the_run(gers_result, full_page) -> None:
    page = (gers_result.path / "map.html").read_text("utf-8")
    assert '<html lang="fr">' in page
    # offline: Leaflet 1.9.3 (xstatic-leaflet) written into the page, no file loaded from elsewhere
    assert "Leaflet 1.9.3" in page and "cdn.jsdelivr" not in page
    assert not re.search(r"<script\b[^>]*\bsrc=|<link\b[^>]*\bhref=", page)
    assert "url(images/" not in page and "url(data:image/png;base64," in page
    # lighter than one GeoJSON per commune: outlines written once, simplified for the web
    assert len(page.encode()) < 3_000_000
    assert page.count('"insee_code": "32013"') == 1


# --- portraits --------------------------------------------------------------------------------


def test_portrait_has_exactly_the_epci_communes(gers_result, gers) -> None:
    fmap = maps.portrait_map(gers_result, BAS_ARMAGNAC)
    expected = set(gers.communes.loc[gers.communes["epci_siren"] == BAS_ARMAGNAC, "insee_code"])
    codes = {f["properties"]["insee_code"] for f in shared_data(fmap)["features"]}
    assert codes == expected and len(codes) == 26
    # fitted to the EPCI's outline
    fit = next(c for c in fmap._children.values() if type(c).__name__ == "FitBounds")
    west, south, east, north = (
        gers.epci.loc[gers.epci["epci_siren"] == BAS_ARMAGNAC].to_crs(4326).total_bounds
    )
    assert np.allclose(fit.bounds, [[south, west], [north, east]], atol=0.002)
    legend = control_html(fmap, "coverage-legend")
    assert "CC du Bas Armagnac" in legend
    assert "26 communes, 8\u202f727 habitants" in legend
    # services inside the EPCI or nearest to one of its communes, no others
    services = [c for name, c in layers_of(fmap).items() if name.startswith("Services : ")]
    ids = {f["properties"]["service_id"] for layer in services for f in layer.data["features"]}
    communes = gers_result.layer("communes")
    members = communes[communes["epci_siren"] == BAS_ARMAGNAC]
    nearest = set(members["france_services__nearest_service_id"]) | set(
        members["tiers_lieu__nearest_service_id"]
    )
    catalogue = gers_result.layer("services")
    inside = set(catalogue.loc[catalogue["insee_code"].isin(expected), "service_id"])
    assert ids == nearest | inside


def test_unknown_epci_is_named(gers_result) -> None:
    with pytest.raises(
        UnknownEpciError, match=r"EPCI inconnu '999999999' : ce résultat couvre 17 EPCI"
    ) as info:
        maps.portrait_map(gers_result, "999999999")
    assert isinstance(info.value, MapError) and isinstance(info.value, LookupError)
    assert BAS_ARMAGNAC in info.value.known


def test_embed_page_for_iframes(gers_result) -> None:
    fmap = maps.portrait_map(gers_result, BAS_ARMAGNAC, "france_services")
    embed = maps.render_html(fmap, embed=True)
    standalone = maps.render_html(fmap)
    assert embed.startswith('<!DOCTYPE html>\n<html lang="fr">')
    assert '<base target="_blank">' in embed and ".coverage-title { display: none; }" in embed
    assert '<base target="_blank">' not in standalone
    assert "<title>CC du Bas Armagnac : accès aux services</title>" in standalone
    for page in (embed, standalone):  # no web font, no Bootstrap, no icon font
        assert not re.search(r"fonts\.googleapis|fontawesome|bootstrap|\.woff", page)
        assert "font-family: Arial, Helvetica, sans-serif" in page


# --- assets -----------------------------------------------------------------------------------


def test_self_hosted_assets_leave_no_third_party_url(gers_result) -> None:
    assets = AssetConfig(
        base_url="http://127.0.0.1:8765/static/",
        tiles_url="http://127.0.0.1:8765/tiles/{z}/{x}/{y}.png",
        tiles_attribution="Fond de test",
    )
    for fmap in (
        maps.coverage_map(gers_result, assets=assets),
        maps.portrait_map(gers_result, BAS_ARMAGNAC, assets=assets),
    ):
        page = maps.render_html(fmap, embed=True)
        assert "http://127.0.0.1:8765/static/leaflet/dist/leaflet.js" in page
        assert "http://127.0.0.1:8765/static/leaflet/dist/leaflet.css" in page
        # hyperlinks (<a href>, escaped in JS strings) are not fetched; every other URL is
        # under the base or the tiles
        links = set(re.findall(r'(?:<|\\u003c)a href=\\?"(https?://[^"\\]+)', page))
        assert links == {"https://www.openstreetmap.org/copyright"}
        urls = set(re.findall(r"https?://[^\s\"'\\)<>]+", page)) - links
        outside = {u for u in urls if not u.startswith("http://127.0.0.1:8765/")}
        assert not outside, outside
        assert "cdn.jsdelivr" not in page and "tile.openstreetmap.org" not in page
    default = maps.render_html(maps.portrait_map(gers_result, BAS_ARMAGNAC))
    assert "cdn.jsdelivr" not in default and "Leaflet 1.9.3" in default
    assert "https://tile.openstreetmap.org/{z}/{x}/{y}.png" in default
    cdn = maps.render_html(
        maps.portrait_map(gers_result, BAS_ARMAGNAC, assets=AssetConfig(cdn=True))
    )
    assert "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css" in cdn


def test_assets_follow_what_elements_need(gers_result) -> None:
    import folium
    from folium.plugins import Fullscreen

    assets = AssetConfig(base_url="/assets")
    fmap = maps.portrait_map(gers_result, BAS_ARMAGNAC, assets=assets)
    page = maps.render_html(fmap)
    assert "/assets/jquery" not in page and "awesome-markers" not in page
    # a caller adds a folium Popup and a Font Awesome icon: their libraries come along, locally
    folium.Marker(
        [43.8, -0.1], popup=folium.Popup("Test"), icon=folium.Icon(icon="home", prefix="fa")
    ).add_to(fmap)
    page = maps.render_html(fmap)
    for path in (
        "/assets/jquery/dist/jquery.min.js",
        "/assets/leaflet.awesome-markers/dist/leaflet.awesome-markers.js",
        "/assets/@fortawesome/fontawesome-free/css/all.min.css",
    ):
        assert f'"{path}"' in page, path
    assert "bootstrap" not in page and "leaflet.awesome.rotate" not in page
    # a glyphicon cannot be self-hosted; neither can an unknown plugin's files
    folium.Marker([43.8, -0.2], icon=folium.Icon(icon="home")).add_to(fmap)
    with pytest.raises(MapError, match="glyphicons"):
        maps.render_html(fmap)
    other = maps.portrait_map(gers_result, BAS_ARMAGNAC, assets=assets)
    Fullscreen().add_to(other)
    with pytest.raises(MapError, match=r"asset 'Control\.Fullscreen\.js' .* no self-hosted copy"):
        maps.render_html(other)
    # offline (the default) the plugin is refused too, in French
    offline = maps.portrait_map(gers_result, BAS_ARMAGNAC)
    Fullscreen().add_to(offline)
    with pytest.raises(MapError, match=r"« Control\.Fullscreen\.js » .* pas de copie locale"):
        maps.render_html(offline)
    # with folium's CDNs the same plugin renders
    cdn = maps.portrait_map(gers_result, BAS_ARMAGNAC, assets=AssetConfig(cdn=True))
    Fullscreen().add_to(cdn)
    assert "fullscreen" in maps.render_html(cdn).lower()
    apply_assets(cdn)  # idempotent


def test_local_asset_files_and_install(tmp_path: Path) -> None:
    rows = local_asset_files(("leaflet", "leaflet_css"))
    paths = {r["url_path"] for r in rows}
    assert "leaflet/dist/leaflet.js" in paths and "leaflet/dist/images/layers.png" in paths
    assert {r["npm"] for r in rows} == {"leaflet@1.9"}
    assert all(r["node_modules_path"] == f"node_modules/{r['url_path']}" for r in rows)
    assert len(local_asset_files()) > len(rows) == 7
    assert {a.name for a in ASSET_FILES} >= {"leaflet", "jquery", "awesome_markers", "bootstrap"}
    node_modules = tmp_path / "node_modules"
    for row in rows[:-1]:
        target = node_modules / row["url_path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(row["url_path"])
    with pytest.raises(MapError, match=r"1 asset file\(s\) missing.*npm install leaflet@1.9"):
        install_local_assets(node_modules, tmp_path / "www", names=("leaflet", "leaflet_css"))
    last = node_modules / rows[-1]["url_path"]
    last.write_text("png")
    written = install_local_assets(node_modules, tmp_path / "www", names=("leaflet", "leaflet_css"))
    assert len(written) == 7
    assert (tmp_path / "www/leaflet/dist/leaflet.js").read_text() == "leaflet/dist/leaflet.js"
    with pytest.raises(MapError, match="base_url is empty"):
        AssetConfig(base_url=" ")
    with pytest.raises(MapError, match="tiles_attribution is required"):
        AssetConfig(tiles_url="http://127.0.0.1/{z}/{x}/{y}.png")


# --- itinerary --------------------------------------------------------------------------------


def _itinerary(gers):
    communes = gers.communes[gers.communes["insee_code"].isin(["32013", "32296", "32208", "32107"])]
    points = communes.geometry.representative_point()
    stops = gpd.GeoDataFrame(
        {
            "name": communes["name"].to_numpy(),
            "visits": [12, 4, 8, 1],
            "population": communes["population"].to_numpy(),
        },
        geometry=points.to_numpy(),
        crs=communes.crs,
    )
    xy = points.to_numpy()
    routes = gpd.GeoDataFrame(
        {"day": [1, 2], "label": ["Mardi", "Jeudi"], "minutes": [95.0, 70.5], "km": [81.2, 60.0]},
        geometry=[shapely.LineString(xy[:2]), shapely.LineString(xy[2:])],
        crs=communes.crs,
    )
    return stops, routes


def test_itinerary_map(gers) -> None:
    stops, routes = _itinerary(gers)
    fmap = maps.itinerary_map(
        stops, routes, title="Service public itinérant", context=gers.communes
    )
    layers = layers_of(fmap)
    assert set(layers) == {"Tournée : Mardi", "Tournée : Jeudi", "Arrêts (4)"}
    stop_features = layers["Arrêts (4)"].data["features"]
    assert sorted(f["properties"]["visits"] for f in stop_features) == [1, 4, 8, 12]
    assert "Passages par an</th><td>12" in json.dumps(stop_features, ensure_ascii=False)
    line = layers["Tournée : Jeudi"].data["features"][0]
    assert line["geometry"]["type"] == "LineString"
    assert "Temps de conduite</th><td>70,5 min" in line["properties"]["popup"]
    legend = control_html(fmap, "coverage-legend")
    assert "Service public itinérant" in legend and "<h3>Tournées</h3>" in legend
    assert "<title>Service public itinérant</title>" in maps.render_html(fmap)


def test_itinerary_bad_input_is_named(gers) -> None:
    stops, routes = _itinerary(gers)
    with pytest.raises(MapError, match="stops: missing column\\(s\\) 'visits'"):
        maps.itinerary_map(stops.drop(columns="visits"), routes, title="x")
    with pytest.raises(MapError, match="routes: no CRS"):
        maps.itinerary_map(stops, routes.set_crs(None, allow_override=True), title="x")
    with pytest.raises(MapError, match="routes: geometry type\\(s\\) Point"):
        maps.itinerary_map(stops, stops.assign(day=1), title="x")


# --- static export ----------------------------------------------------------------------------


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def test_export_png(gers_result, tmp_path: Path) -> None:
    from PIL import Image

    path = maps.export_png(gers_result, tmp_path / "gers.png", dpi=100)
    assert _png_size(path) == (1000, 750)
    pixels = {c: n for n, c in Image.open(path).convert("RGB").getcolors(1_000_000)}
    # France services: most communes under 10 or 10-15 min; 45+ only in the legend's patch
    assert pixels[(0x1A, 0x98, 0x50)] > 20_000 and pixels[(0x91, 0xCF, 0x60)] > 20_000
    assert pixels.get((0xD7, 0x30, 0x27), 0) < 500
    portrait = maps.export_png(
        gers_result,
        tmp_path / "sub" / "bas_armagnac.png",
        analysis="tiers_lieu",
        epci_siren=BAS_ARMAGNAC,
        dpi=80,
        figsize_in=(6.0, 5.0),
    )
    assert _png_size(portrait) == (480, 400)
    pixels = {c: n for n, c in Image.open(portrait).convert("RGB").getcolors(1_000_000)}
    # every commune of the EPCI is 45+ min from a tiers-lieu
    assert pixels[(0xD7, 0x30, 0x27)] > 20_000
    assert pixels.get((0x1A, 0x98, 0x50), 0) < 500
    with pytest.raises(UnknownEpciError):
        maps.export_png(gers_result, tmp_path / "x.png", epci_siren="123456789")


def test_result_without_optional_layers(gers_result, tmp_path: Path) -> None:
    """A run that kept no isochrones, catchments or cells still maps (those layers left out)."""
    import shutil

    from coverage.results import ResultFolder

    folder = tmp_path / "light"
    (folder / "tables").mkdir(parents=True)
    shutil.copy(gers_result.path / "summary.json", folder)
    for table in (gers_result.path / "tables").glob("underserved_*.csv"):
        shutil.copy(table, folder / "tables")
    for layer in ("communes", "epci", "services"):
        gers_result.layer(layer).to_file(folder / "results.gpkg", layer=layer, engine="pyogrio")
    light = ResultFolder(folder)
    fmap = maps.coverage_map(light)
    names = set(layers_of(fmap))
    assert not any(n.startswith(("Isochrones", "Zones de desserte")) for n in names)
    assert "Temps d’accès : France services" in names
    assert "Isochrones" not in control_html(fmap, "coverage-legend")
    assert len(shared_data(fmap)["features"]) == 458


# --- escaping and Content-Security-Policy -----------------------------------------------------


def _policy_scripts(policy: str) -> list[str]:
    part = next(p for p in policy.split("; ") if p.startswith("script-src "))
    return part.split()[1:]


def _inline_hashes(page: str) -> set[str]:
    import base64
    import hashlib

    found = re.findall(r"<script\b([^>]*)>(.*?)</script\s*>", page, re.S)
    return {
        "'sha256-" + base64.b64encode(hashlib.sha256(code.encode()).digest()).decode() + "'"
        for attributes, code in found
        if "src" not in attributes
    }


def test_page_policy_allows_exactly_its_scripts(gers_result) -> None:
    cases = [
        (AssetConfig(), []),  # offline: Leaflet inlined, allowed by its hash
        (AssetConfig(cdn=True), ["https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"]),
        (AssetConfig(base_url="/assets"), ["'self'"]),
        (
            AssetConfig(base_url="https://static.example.fr/npm/"),
            ["https://static.example.fr/npm/leaflet/dist/leaflet.js"],
        ),
    ]
    for assets, files in cases:
        for embed in (False, True):
            fmap = maps.portrait_map(gers_result, BAS_ARMAGNAC, assets=assets)
            page = maps.render_page(fmap, embed=embed)
            scripts = _policy_scripts(page.policy)
            hashes = _inline_hashes(page.html)
            # folium's switches, the map, the fold (embed), Leaflet itself (offline)
            assert len(hashes) == (3 if embed else 2) + assets.inline
            assert set(scripts) == hashes | set(files), (assets, embed)
            assert page.policy.startswith("default-src 'none'; ")
            assert "base-uri 'none'; form-action 'none'" in page.policy
            assert page.html.index("Content-Security-Policy") < page.html.index("<script")
    tiles = maps.render_page(maps.portrait_map(gers_result, BAS_ARMAGNAC)).policy
    assert "img-src https://tile.openstreetmap.org/ data:; base-uri" in tiles  # no font
    cdn = AssetConfig(cdn=True)
    tiles = maps.render_page(maps.portrait_map(gers_result, BAS_ARMAGNAC, assets=cdn)).policy
    leaflet = "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/"
    assert f"img-src https://tile.openstreetmap.org/ {leaflet} data:; font-src {leaflet};" in tiles
    none = AssetConfig(tiles=False)
    assert (
        "openstreetmap"
        not in maps.render_page(maps.portrait_map(gers_result, BAS_ARMAGNAC, assets=none)).policy
    )


def test_escaping_helpers_and_layer_names() -> None:
    import folium

    from maps._controls import LayerControl
    from maps.escape import esc, guard_script, plain_text

    assert esc('"><img src=x>') == "&quot;&gt;&lt;img src=x&gt;" and esc(None) == ""
    assert guard_script("var a = '</script><!-- x';") == "var a = '<\\/script>\\x3C!-- x';"
    assert plain_text("5 $ et 6 $") == r"5 \$ et 6 \$"
    # a layer named with HTML by any caller reaches Leaflet's control escaped
    fmap = folium.Map(tiles=None)
    folium.GeoJson({"type": "FeatureCollection", "features": []}, name="<b>x</b>").add_to(fmap)
    LayerControl().add_to(fmap)
    page = maps.render_html(fmap)
    assert '"\\u0026lt;b\\u0026gt;x\\u0026lt;/b\\u0026gt;" :' in page and "<b>x" not in page
