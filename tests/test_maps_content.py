"""What the written map pages say: provenance, one attribution, added sites, itinerary, compare."""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

import maps
from maps.style import distinct_colours


def plain(page: str) -> str:
    """The page with the JSON escapes of its script undone (``\\u00e9`` -> ``é``, ``\\"``)."""
    text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), page)
    return text.replace('\\"', '"')


def attributions(page: str) -> list[str]:
    body = page[page.index("<body>") :] if "<body>" in page else page  # not Leaflet's own code
    return [json.loads(a) for a in re.findall(r"addAttribution\((.*?)\);", body)]


@pytest.fixture(scope="module")
def placed_result(gers_result, shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    """The default scenario with two tiers-lieux added (as ``coverage place`` writes one)."""
    from coverage.jobs.run import run_scenario
    from coverage.results import ResultFolder
    from coverage.scenario import load_scenario

    base = Path(__file__).parents[1] / "data/geo/gers/scenarios/actuel.toml"
    text = base.read_text(encoding="utf-8").replace(
        'name = "gers_actuel"', 'name = "gers_placement_tiers_lieu"'
    )
    text = re.sub(r'label = "Gers : offre actuelle[^"]*"',
                  'label = "Gers + 2 × Tiers-lieu solidaire (placement mclp)"', text, count=1)
    text += "".join(
        f'\n[[services.add]]\nservice_id = "place-tl-{code}"\nkind = "tiers_lieu"\n'
        f'name = "Tiers-lieu solidaire proposé : {name}"\ninsee_code = "{code}"\n'
        'status = "planned"\n'
        for code, name in (("32013", "Auch"), ("32296", "Nogaro"))
    )
    folder = tmp_path_factory.mktemp("placed")
    path = folder / "placed.toml"
    path.write_text(text, encoding="utf-8")
    run_scenario(load_scenario(path), output_dir=folder / "run", data_dir=shared_data)
    return ResultFolder(folder / "run")


def test_legend_names_the_numbered_road_skeleton_and_one_attribution(gers_result) -> None:
    written = plain((gers_result.path / "map.html").read_text(encoding="utf-8"))
    assert "Squelette des routes numérotées" in written
    fmap = maps.coverage_map(gers_result)
    page = maps.render_html(fmap)
    parts = attributions(page)
    osm = [p for p in parts if "OpenStreetMap" in p]
    assert len(osm) == 1  # and Leaflet shows the tiles' identical credit once
    assert all(p == parts[parts.index(p)] for p in parts) and len(parts) == len(set(parts))
    legend = next(c.html for c in fmap._children.values() if "coverage-legend" in getattr(
        c, "css_class", ""))
    assert "<h3>Réseau routier</h3>" in legend
    assert "Squelette des routes numérotées (autoroutes, nationales, départementales)" in legend
    assert "données du 11/12/2025" in legend
    assert "(OpenStreetMap)" not in legend and "extrait OpenStreetMap" not in legend


def test_page_keeps_the_legend_off_the_data(gers_result) -> None:
    page = maps.render_html(maps.coverage_map(gers_result))
    assert 'window.matchMedia("(max-width: 600px), (max-height: 500px)")' in page
    assert "paddingTopLeft" in page and 'removeAttribute("open")' in page
    assert "@media (max-width: 600px), (max-height: 500px)" in page
    assert "attributionControl.getContainer()" in page  # the legend is raised above it


def test_placement_map_shows_added_sites_apart(placed_result) -> None:
    fmap = maps.coverage_map(placed_result)
    page = maps.render_html(fmap)
    assert "<title>5 tiers-lieux solidaires : couverture à 20 minutes</title>" in page
    assert "placement mclp" not in page
    names = [c.layer_name for c in fmap._children.values() if getattr(c, "control", False)
             and hasattr(c, "layer_name")]
    shown = [c.layer_name for c in fmap._children.values()
             if getattr(c, "overlay", True) is False and getattr(c, "show", False)]
    assert "Temps d’accès : Tiers-lieux solidaires" in shown
    assert names.index("Temps d’accès : Tiers-lieux solidaires") < names.index(
        "Temps d’accès : France services")
    layers = {c.layer_name: c for c in fmap._children.values() if hasattr(c, "layer_name")}
    added = layers["Sites ajoutés : Tiers-lieu solidaire (2)"]
    existing = layers["Services : Tiers-lieu solidaire (3)"]
    assert sorted(f["properties"]["name"] for f in added.data["features"]) == [
        "Tiers-lieu solidaire proposé : Auch", "Tiers-lieu solidaire proposé : Nogaro"]
    added_icon = added.marker.icon.options["html"]
    existing_icon = existing.marker.icon.options["html"]
    assert 'data-site="ajoute"' in added_icon and 'fill="#ffffff"' in added_icon
    assert 'data-site="ajoute"' not in existing_icon and added_icon != existing_icon
    assert "site ajouté" not in existing_icon
    assert "Tiers-lieu solidaire : sites ajoutés (2)" in plain(page)


def test_distinct_colours_for_many_tours() -> None:
    for count in (1, 8, 12, 14, 40):
        colours = distinct_colours(count)
        assert len(colours) == count == len(set(colours))
        assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in colours)


def _plan_folder(gers, folder: Path, n_tours: int) -> dict:
    """A plan folder as ``ItineraryPlan.write`` leaves it (Gers communes, two bases)."""
    communes = gers.communes.set_index("insee_code")
    codes = list(communes.index[: 2 * n_tours])
    points = communes.loc[codes].geometry.representative_point()
    stops = gpd.GeoDataFrame(
        {"name": communes.loc[codes, "name"].to_numpy(), "visits": [4] * len(codes),
         "population": communes.loc[codes, "population"].to_numpy(), "insee_code": codes},
        geometry=points.to_numpy(), crs=gers.crs,
    ).to_crs(4326)
    depots = [
        {"code": "32013", "name": "Auch", "x": float(communes.at["32013", "point_x"]),
         "y": float(communes.at["32013", "point_y"])},
        {"code": "32296", "name": "Nogaro", "x": float(communes.at["32296", "point_x"]),
         "y": float(communes.at["32296", "point_y"])},
        {"code": "32107", "name": "Condom", "x": float(communes.at["32107", "point_x"]),
         "y": float(communes.at["32107", "point_y"])},
    ]
    lines, tour_depots = [], []
    xy = points.to_numpy()
    for k in range(n_tours):
        base = depots[k % 2]
        start = shapely.Point(base["x"], base["y"])
        lines.append(shapely.LineString([start, xy[2 * k], xy[2 * k + 1], start]))
        tour_depots.append(base["name"])
    tours = gpd.GeoDataFrame(
        {"tour": range(1, n_tours + 1), "day": range(1, n_tours + 1),
         "label": [f"{k + 1} – tournée" for k in range(n_tours)], "depot": tour_depots,
         "days": [3] * n_tours, "minutes": [80.0] * n_tours, "km": [70.0] * n_tours},
        geometry=lines, crs=gers.crs,
    ).to_crs(4326)
    stops.to_file(folder / "stops.geojson", driver="GeoJSON")
    tours.to_file(folder / "tours.geojson", driver="GeoJSON")
    network = {"source": str(Path(gers.data_dir) / "roads_gers_travelmapping.osm"),
               "source_date": "2025-12-11",
               "kind": "numbered_roads",
               "layer_source": "TravelMapping HighwayData (routes numérotées)"}
    return {
        "territory": {"name": "gers", "label": "Gers"},
        "period": {"start": "2027-01-01"},
        "depot": depots[0],
        "depots": depots,
        "details": {"provenance": {"crs": "EPSG:2154", "network": network}},
    }


def test_itinerary_map_has_outlines_depots_and_a_colour_per_tour(gers, tmp_path: Path) -> None:
    from maps.itinerary_writer import write_itinerary_map

    summary = _plan_folder(gers, tmp_path, 14)
    raw = write_itinerary_map(tmp_path, summary)[0].read_text(encoding="utf-8")
    page = plain(raw)
    colours = set(re.findall(r'"color": "(#[0-9a-f]{6})", "opacity": 0.85, "weight": 4', page))
    assert len(colours) == 14
    assert 'data-marker="depot"' in page
    assert "Bases de départ (2)" in page  # Condom starts no tour: no pin
    assert "Base de départ : Auch" in page and "Base de départ : Nogaro" in page
    assert "Base de départ : Condom" not in page
    assert '{"color": "#252525", "fill": false, "weight": 2.2}' in page  # the département
    assert page.count('"color": "#737373"') >= len(gers.communes)  # every commune outline
    assert "Squelette des routes numérotées" in page
    assert len([p for p in attributions(raw) if "OpenStreetMap" in p]) == 1


def test_compare_writes_a_map_of_gains_and_losses(gers_result, placed_result, tmp_path) -> None:
    from coverage.jobs.compare import compare_results
    from maps.compare_map import change_colour, write_compare_map
    from maps.style import GAIN_COLOURS, LOSS_COLOURS, UNCHANGED_COLOUR

    comparison = compare_results(gers_result.path, placed_result.path)
    paths = comparison.write(tmp_path)
    if not any(p.name == "map.html" for p in paths):  # entry point not installed yet
        data = {**comparison.to_dict(), "result_a": gers_result.path,
                "result_b": placed_result.path}
        paths = write_compare_map(tmp_path, data)
    page = plain((tmp_path / "map.html").read_text(encoding="utf-8"))
    gains = comparison.changes[comparison.changes["gained"] > 0]
    assert len(gains) > 0
    assert change_colour(10) == GAIN_COLOURS[0] and change_colour(-900) == LOSS_COLOURS[2]
    assert change_colour(0) == UNCHANGED_COLOUR
    row = gains.iloc[0]
    net = row["gained"] - row["lost"]
    assert change_colour(net) in page
    for text in ("gagnent l’accès", "perdent l’accès", "sans changement",
                 "Qui gagne et qui perd l’accès"):
        assert text in page, text
    assert '<html lang="fr">' in page
