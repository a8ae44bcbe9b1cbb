"""``coverage fetch``: a bundle built from the official sources, served by a local HTTP server.

The server (tests/http_server.py, on 127.0.0.1) answers in each source's
published format, with payloads built here from the real shared Gers data:

- geo.api.gouv.fr: ``/departements/32``, ``/departements/32/communes`` (GeoJSON,
  ``geometry=contour``: properties ``nom``, ``code``, ``codesPostaux``,
  ``population``, ``codeEpci``) and ``/epcis?codeDepartement=32`` (JSON list
  ``nom``, ``code``, ``type``, ``population``), from communes_gers.geojson and
  epci_gers.geojson;
- INSEE COG: ``v_commune_2022.csv`` is the real COG 2022 slice
  (cog2022_communes_gers.csv); ``v_canton_2022.csv`` is rebuilt with the COG
  columns from cantons_gers.geojson: Auch-1/2/3 (3204-3206) and the
  pseudo-canton 3299 have Auch (32013) as bureau centralisateur, as in the COG;
  for the 14 other cantons the shared data has no BURCENTRAL, so the test puts
  the canton's most populous commune there (the code under test only uses it
  for pseudo-cantons);
- data.gouv.fr: the dataset of the France services list (API v1 format) with a
  CSV of the 92 sites of france_services_gers.geojson (ANCT columns, ``;``,
  UTF-8 with BOM), an older-looking communes CSV without coordinates and an XLSX;
- BAN: ``adresses-32.csv.gz`` rewritten in the BAN columns from the first
  rows of the BANO sample;
- Overpass: a small JSON answer holding 12 real numbered-road ways around Auch
  taken from roads_gers_travelmapping.osm;
- INSEE: ``base-cc-evol-struct-pop-2022_csv.zip`` in the published layout
  (``;``, ``CODGEO``, ``P22_POP``, ``P22_POP<band>``) with figures the test
  makes (NOT INSEE's): each Gers commune's population split by the shares of
  :data:`AGE_SPLIT`, Aujan-Mournède (32015) left out, two communes of other départements.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import math
import re
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path
from urllib.parse import parse_qs

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from http_server import LocalHTTPServer, closed_port_url, http_server  # noqa: F401

from coverage._cache import file_sha256
from coverage._http import Downloader
from coverage.errors import ConfigError, DataError, OfflineError
from coverage.jobs.fetch import FetchSources, fetch_territory
from coverage.sources.admin import build_admin_layers
from coverage.sources.france_services import select_france_services
from coverage.sources.osm import fetch_osm_graphml

pytestmark = pytest.mark.network

AUCH = (0.5857, 43.6465)
DATASET = "liste-des-structures-france-services"


# --- payloads built from the real Gers data ---------------------------------------------------


@cache
def payloads(shared: Path) -> dict[str, tuple[bytes, str]]:
    """Path -> (body, content type) of every official answer, built from the shared data."""
    gers = shared / "gers"
    communes = gpd.read_file(gers / "communes_gers.geojson")
    epci = gpd.read_file(gers / "epci_gers.geojson")
    out: dict[str, tuple[bytes, str]] = {}

    def as_json(value: object) -> bytes:
        return json.dumps(value, ensure_ascii=False).encode("utf-8")

    out["/departements/32"] = (
        as_json({"nom": "Gers", "code": "32", "codeRegion": "76"}),
        "application/json; charset=utf-8",
    )
    features = [
        {
            "type": "Feature",
            "properties": {
                "nom": row.nom,
                "code": row.insee_code,
                "codesPostaux": [p for p in str(row.codes_postaux).split(";") if p],
                "population": int(row.population),
                "codeEpci": row.epci_siren,
            },
            "geometry": shapely.geometry.mapping(row.geometry),
        }
        for row in communes.itertuples()
    ]
    out["/departements/32/communes"] = (
        as_json({"type": "FeatureCollection", "features": features}),
        "application/json; charset=utf-8",
    )
    out["/communes"] = (as_json(all_communes(communes)), "application/json; charset=utf-8")
    out["/epcis"] = (
        as_json(
            [
                {
                    "nom": row.epci_nom,
                    "code": row.epci_siren,
                    "type": row.epci_type,
                    "population": int(row.population_municipale_epci),
                }
                for row in epci.itertuples()
            ]
        ),
        "application/json; charset=utf-8",
    )
    out["/cog/v_commune_2022.csv"] = ((gers / "cog2022_communes_gers.csv").read_bytes(), "text/csv")
    out["/cog/v_canton_2022.csv"] = (canton_file(gers, communes), "text/csv")
    out["/ban/adresses-32.csv.gz"] = (ban_file(gers), "application/gzip")
    fs_csv, communes_csv = france_services_files(gers)
    out["/files/liste-fs.csv"] = (fs_csv, "text/csv")
    out["/files/communes-fs.csv"] = (communes_csv, "text/csv")
    nodes, ways = overpass_ways(gers)
    out["/overpass/interpreter"] = (as_json(overpass_answer(nodes, ways)), "application/json")
    out[AGES_PATH] = (ages_zip(communes), "application/zip")
    return out


AGES_PATH = "/insee/base-cc-evol-struct-pop-2022_csv.zip"
AGE_SPLIT = {  # share of each INSEE band in the test's file (sums to 1)
    "0014": 0.125,
    "1529": 0.125,
    "3044": 0.125,
    "4559": 0.25,
    "6074": 0.25,
    "7589": 0.0625,
    "90P": 0.0625,
}
AGES_LEFT_OUT = "32015"


def ages_zip(communes: gpd.GeoDataFrame) -> bytes:
    """The INSEE age structure per commune, zipped, with the test's figures."""
    import zipfile

    bands = list(AGE_SPLIT)
    lines = [";".join(["CODGEO", "P22_POP", *[f"P22_POP{b}" for b in bands]])]
    rows = [(str(r.insee_code), int(r.population)) for r in communes.itertuples()]
    rows += [("40001", 6221), ("75056", 2133111)]
    for code, population in rows:
        if code == AGES_LEFT_OUT:
            continue
        shares = [f"{population * AGE_SPLIT[b]:.4f}" for b in bands]
        lines.append(";".join([code, str(population), *shares]))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("base-cc-evol-struct-pop-2022.CSV", "\n".join(lines) + "\n")
        archive.writestr("meta_base-cc-evol-struct-pop-2022.CSV", "COD_VAR;LIB_VAR\n")
    return buffer.getvalue()


NEIGHBOURS = [  # (code, name, population, lon, lat): two within 30 km of the Gers, two far
    ("40001", "Aire-sur-l'Adour", 6221, -0.2628, 43.7010),
    ("47195", "Nérac", 6897, 0.3389, 44.1361),
    ("33063", "Bordeaux", 261804, -0.5792, 44.8378),
    ("75056", "Paris", 2133111, 2.3522, 48.8566),
]


def all_communes(communes: gpd.GeoDataFrame) -> list[dict]:
    """``/communes?fields=nom,code,population,centre,codeDepartement``: the Gers and others."""
    centres = communes.to_crs("EPSG:2154").representative_point().to_crs("EPSG:4326")
    rows = [
        {
            "nom": row.nom,
            "code": row.insee_code,
            "population": int(row.population),
            "centre": {"type": "Point", "coordinates": [centre.x, centre.y]},
            "codeDepartement": "32",
        }
        for row, centre in zip(communes.itertuples(), centres, strict=True)
    ]
    for code, name, population, lon, lat in NEIGHBOURS:
        rows.append(
            {
                "nom": name,
                "code": code,
                "population": population,
                "centre": {"type": "Point", "coordinates": [lon, lat]},
                "codeDepartement": code[:2],
            }
        )
    return rows


def canton_file(gers: Path, communes: gpd.GeoDataFrame) -> bytes:
    """The COG canton file (CAN,DEP,REG,COMPCT,BURCENTRAL,TNCC,NCC,NCCENR,LIBELLE,TYPECT)."""
    from unidecode import unidecode

    cantons = gpd.read_file(gers / "cantons_gers.geojson")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["CAN", "DEP", "REG", "COMPCT", "BURCENTRAL", "TNCC", "NCC", "NCCENR", "LIBELLE", "TYPECT"]
    )
    for row in cantons.sort_values("canton_code_cog").itertuples():
        code = row.canton_code_cog
        if code in ("3204", "3205", "3206"):
            bureau, compct = "32013", "2"
        else:
            members = communes[communes["canton_code"] == code]
            bureau, compct = members.sort_values("population").iloc[-1]["insee_code"], "1"
        ncc = unidecode(row.canton_nom).upper().replace("-", " ")
        writer.writerow(
            [code, "32", "76", compct, bureau, "0", ncc, row.canton_nom, row.canton_nom, "C"]
        )
    writer.writerow(["3299", "32", "76", "", "32013", "1", "AUCH", "Auch", "Auch", "V"])
    return buffer.getvalue().encode("utf-8")


BAN_HEADER = (
    "id;id_fantoir;numero;rep;nom_voie;code_postal;code_insee;nom_commune;"
    "code_insee_ancienne_commune;nom_ancienne_commune;x;y;lon;lat;type_position;alias;"
    "nom_ld;libelle_acheminement;nom_afnor;source_position;source_nom_voie;"
    "certification_commune;cad_parcelles"
)


def ban_file(gers: Path, n_rows: int = 2000) -> bytes:
    """The first BANO rows rewritten in the BAN CSV format (``;``, gzip)."""
    from pyproj import Transformer
    from unidecode import unidecode

    bano = pd.read_csv(gers / "bano_adresses_gers_2015.csv.gz", dtype=str, nrows=n_rows)
    to_l93 = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)
    lines = [BAN_HEADER]
    for row in bano.itertuples():
        match = re.match(r"^(\d+)\s*([A-Za-z]*)$", row.numero.strip())
        numero, rep = (match.group(1), match.group(2).lower()) if match else (row.numero, "")
        insee, fantoir = row.id[:5], row.id[5:9].lower()
        ban_id = f"{insee}_{fantoir}_{int(numero):05d}" + (f"_{rep}" if rep else "")
        x, y = to_l93.transform(float(row.lon), float(row.lat))
        fields = [
            ban_id,
            f"{insee}_{fantoir}",
            numero,
            rep,
            row.voie,
            row.code_post,
            insee,
            row.nom_comm,
            "",
            "",
            f"{x:.2f}",
            f"{y:.2f}",
            row.lon,
            row.lat,
            "entrée",
            "",
            "",
            unidecode(row.nom_comm).upper(),
            unidecode(row.voie).upper(),
            "commune",
            "commune",
            "0",
            "",
        ]
        lines.append(";".join(fields))
    return gzip.compress(("\n".join(lines) + "\n").encode("utf-8"), mtime=0)


FS_COLUMNS = [
    "id_fs",
    "insee_dep",
    "lib_fs",
    "adresse",
    "complement_adresse",
    "insee_com",
    "code_postal",
    "lib_com",
    "latitude",
    "longitude",
    "mail",
    "telephone",
    "h_lundi",
    "h_mardi",
    "h_mercredi",
    "h_jeudi",
    "h_vendredi",
    "h_samedi",
    "prise_rdv",
    "commentaire",
    "type_fs",
    "format_fs",
    "groupe_fs",
    "labellisation_fs",
]


def france_services_files(gers: Path) -> tuple[bytes, bytes]:
    """The structures CSV (ANCT columns, ``;``, BOM) and a communes CSV without coordinates."""
    sites = gpd.read_file(gers / "france_services_gers.geojson")
    table = pd.DataFrame(sites.drop(columns=["geometry", "in_gers"]))[FS_COLUMNS]
    structures = "\ufeff" + table.to_csv(sep=";", index=False)
    communes = (
        table[["insee_com", "lib_com"]]
        .drop_duplicates()
        .rename(columns={"insee_com": "code_insee", "lib_com": "commune"})
    )
    return structures.encode("utf-8"), communes.to_csv(sep=";", index=False).encode("utf-8")


def dataset_answer(base: str) -> dict:
    """The data.gouv.fr API v1 answer for the France services dataset."""

    def resource(rid: str, title: str, fmt: str, path: str, modified: str) -> dict:
        return {
            "id": rid,
            "title": title,
            "format": fmt,
            "url": base + path,
            "latest": f"{base}/api/1/datasets/r/{rid}",
            "type": "main",
            "filetype": "file",
            "mime": "text/csv" if fmt == "csv" else "application/vnd.ms-excel",
            "filesize": 0,
            "checksum": None,
            "created_at": modified,
            "last_modified": modified,
        }

    return {
        "id": "5e1c6fa66f444c07d54f2e56",
        "title": "Liste des structures France services",
        "slug": DATASET,
        "page": f"https://www.data.gouv.fr/fr/datasets/{DATASET}/",
        "license": "lov2",
        "organization": {"name": "Agence nationale de la cohésion des territoires"},
        "resources": [
            resource(
                "a1",
                "Liste des communes dotées",
                "csv",
                "/files/communes-fs.csv",
                "2024-08-02T10:00:00.000000+00:00",
            ),
            resource(
                "a2",
                "Liste des structures France services",
                "csv",
                "/files/liste-fs.csv",
                "2024-08-01T09:00:00.000000+00:00",
            ),
            resource(
                "a3",
                "Liste des structures (xlsx)",
                "xlsx",
                "/files/liste-fs.xlsx",
                "2024-08-03T09:00:00.000000+00:00",
            ),
        ],
    }


def overpass_ways(gers: Path, n_ways: int = 12) -> tuple[dict[int, tuple[float, float]], list]:
    """Real ways of the numbered-roads OSM file whose nodes all lie within 8 km of Auch."""
    root = ET.parse(gers / "roads_gers_travelmapping.osm").getroot()
    nodes = {
        int(n.get("id")): (float(n.get("lon")), float(n.get("lat"))) for n in root.iter("node")
    }
    ways, seen_pairs = [], set()
    for way in root.iter("way"):
        refs = [int(nd.get("ref")) for nd in way.iter("nd")]
        pair = frozenset((refs[0], refs[-1]))
        if pair in seen_pairs or len(set(refs)) != len(refs):
            continue
        if all(haversine_m(nodes[r], AUCH) < 8000 for r in refs):
            tags = {t.get("k"): t.get("v") for t in way.iter("tag")}
            ways.append(
                {
                    "id": int(way.get("id")),
                    "nodes": refs,
                    "tags": {"highway": tags["highway"], "ref": tags.get("ref", "")},
                }
            )
            seen_pairs.add(pair)
        if len(ways) == n_ways:
            break
    used = {r for w in ways for r in w["nodes"]}
    return {n: nodes[n] for n in used}, ways


def overpass_answer(nodes: dict[int, tuple[float, float]], ways: list) -> dict:
    elements = [
        {"type": "node", "id": n, "lat": lat, "lon": lon} for n, (lon, lat) in sorted(nodes.items())
    ]
    elements += [{"type": "way", **w} for w in ways]
    return {
        "version": 0.6,
        "generator": "Overpass API 0.7.62.1 084b4234",
        "osm3s": {
            "timestamp_osm_base": "2025-01-19T21:21:36Z",
            "copyright": "The data included in this document is from www.openstreetmap.org. "
            "The data is made available under ODbL.",
        },
        "elements": elements,
    }


def haversine_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance as osmnx computes it (earth radius 6 371 009 m)."""
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6_371_009 * math.asin(min(1.0, math.sqrt(h)))


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def official(
    http_server: LocalHTTPServer,  # noqa: F811
    shared_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> LocalHTTPServer:
    """The local server answering as the official sources; the COVERAGE_* URLs point at it."""
    for path, (body, content_type) in payloads(shared_data).items():
        if path == "/overpass/interpreter":
            http_server.add_handler(
                path, lambda request, b=body: (200, {"Content-Type": "application/json"}, b)
            )
        else:
            http_server.add(path, body, content_type=content_type, etag=f'"{len(body)}"')
    http_server.add(
        f"/api/1/datasets/{DATASET}/",
        json.dumps(dataset_answer(http_server.url)),
        content_type="application/json",
    )
    http_server.add(
        "/overpass/status",
        "Connected as: 1\nCurrent time: 2025-01-20T00:00:00Z\nAnnounced endpoint: none\n"
        "Rate limit: 2\n2 slots available now.\nCurrently running queries (pid, space limit, "
        "time limit, start time):\n",
        content_type="text/plain",
    )
    base = http_server.url
    monkeypatch.setenv("COVERAGE_GEO_API_URL", base)
    monkeypatch.setenv("COVERAGE_COG_URL", base + "/cog")
    monkeypatch.setenv("COVERAGE_COG_YEAR", "2022")
    monkeypatch.setenv("COVERAGE_DATAGOUV_API_URL", base + "/api/1")
    monkeypatch.setenv("COVERAGE_BAN_URL", base + "/ban")
    monkeypatch.setenv("COVERAGE_INSEE_AGES_URL", base + AGES_PATH)
    monkeypatch.setenv("COVERAGE_OVERPASS_URL", base + "/overpass")
    monkeypatch.setenv("COVERAGE_OVERPASS_RATE_LIMIT", "0")
    monkeypatch.setenv("COVERAGE_HTTP_BACKOFF_S", "0.01")
    monkeypatch.setenv("COVERAGE_HTTP_RETRIES", "2")
    monkeypatch.setenv("COVERAGE_CACHE_DIR", str(tmp_path / "cache"))
    return http_server


# --- the whole bundle -------------------------------------------------------------------------


def test_fetch_builds_a_bundle_that_loads_like_the_shared_one(
    official: LocalHTTPServer, shared_data: Path, tmp_path: Path
) -> None:
    from coverage.layers import load_territory
    from coverage.layers.addresses import read_address_table

    dest = tmp_path / "bundle"
    report = fetch_territory("gers", dest)
    gers = load_territory("gers", data_dir=dest)

    assert gers.config.path == dest / "territory.toml"  # the bundle's description wins
    assert len(gers.communes) == 458
    assert gers.population == 192_645
    assert len(gers.cantons) == 17
    assert sorted(gers.cantons["canton_code"]) == [f"32{i:02d}" for i in range(1, 18)]
    split = gers.config.split_cantons["3299"]
    assert split.communes == ("32013",) and split.cantons == ("3204", "3205", "3206")
    assert split.label == "Auch (commune répartie entre Auch-1, Auch-2 et Auch-3)"
    auch = gers.communes.set_index("insee_code").loc["32013"]
    assert auch["canton_code"] == "3299" and auch["population"] == 22_428
    # canton populations leave Auch out, as the shared bundle's do
    assert int(gers.cantons["population"].sum()) == 192_645 - 22_428
    assert len(gers.epci) == 17
    assert int(gers.epci["population"].sum()) == 192_645
    assert gers.communes.set_index("insee_code").loc["32013", "postcodes"] == "32000"

    # provenance per layer, the outline's dissolve said so
    spec = gers.config.layer("departement")
    assert "union des contours des communes" in spec.source and spec.licence
    assert gers.config.layer("cantons").source.startswith("INSEE COG 2022")
    assert gers.config.population.weights == {"base": 1.0, "roads": 4.0, "addresses": 1.0}

    # fetch.json: every file with its URL, date, size and SHA-256
    record = json.loads((dest / "fetch.json").read_text("utf-8"))
    assert record["departement"] == "32" and record["sources"]["cog_year"] == "2022"
    expected_files = {
        "communes_gers.geojson",
        "cantons_gers.geojson",
        "epci_gers.geojson",
        "departement_gers.geojson",
        "france_services_gers.geojson",
        "communes_voisines_gers.csv",
        "publics_gers.csv",
        "adresses-32.csv.gz",
        "roads_gers_osm.graphml",
        "territory.toml",
        "services/tiers_lieux.csv",
    }
    assert set(record["files"]) == expected_files
    for name, entry in record["files"].items():
        path = dest / name
        assert entry["sha256"] == file_sha256(path), name
        assert entry["size"] == path.stat().st_size, name
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$", entry["retrieved"]), name
    assert record["files"]["adresses-32.csv.gz"]["url"] == official.url + "/ban/adresses-32.csv.gz"
    assert record["files"]["communes_gers.geojson"]["licence"] == "Licence Ouverte / Etalab"
    served = payloads(shared_data)
    downloads = {d["url"].split("?")[0]: d for d in record["downloads"]}
    ban_body = served["/ban/adresses-32.csv.gz"][0]
    assert downloads[official.url + "/ban/adresses-32.csv.gz"]["sha256"] == file_sha256_bytes(
        ban_body
    )
    assert report.files == record["files"]

    # the requests asked what the real APIs need
    communes_query = official.requests("/departements/32/communes")[0].query
    assert communes_query["format"] == "geojson" and communes_query["geometry"] == "contour"
    assert set(communes_query["fields"].split(",")) >= {"population", "codeEpci", "codesPostaux"}
    assert official.requests("/epcis")[0].query["codeDepartement"] == "32"

    # the communes over the border (demand of the 2SFCA): those within 30 km, read back
    from coverage.layers.health import read_neighbour_communes

    neighbours = read_neighbour_communes(gers)
    assert neighbours is not None
    assert neighbours.frame["insee_code"].tolist() == ["40001", "47195"]
    assert neighbours.frame["population"].tolist() == [6221, 6897]
    assert record["files"]["communes_voisines_gers.csv"]["layer"] == "communes_voisines"
    assert "30 km" in gers.config.layer("communes_voisines").source
    query = official.requests("/communes")[0].query
    assert set(query["fields"].split(",")) >= {"code", "population", "centre", "codeDepartement"}

    # addresses: the BAN file as published, read through the fetched mapping
    assert (dest / "adresses-32.csv.gz").read_bytes() == ban_body
    addresses = read_address_table(gers.config.layer("addresses"), dest)
    assert len(addresses) == 2000 and addresses["lat"].notna().all()
    assert gers.config.layer("addresses").format == "ban"

    # France services: the latest CSV with coordinates (the communes CSV is skipped)
    sites = gpd.read_file(dest / "france_services_gers.geojson")
    assert len(sites) == 92 and int(sites["in_gers"].sum()) == 27
    assert list(sites.columns[: len(FS_COLUMNS)]) == FS_COLUMNS
    assert official.count("/files/liste-fs.xlsx") == 0
    fs_columns = tomllib_load(dest / "territory.toml")["services"]["sources"]["france_services"]
    assert fs_columns["columns"]["service_id"] == "id_fs"
    assert fs_columns["columns"]["lon"] == "longitude"


def file_sha256_bytes(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def tomllib_load(path: Path) -> dict:
    import tomllib

    return tomllib.loads(path.read_text("utf-8"))


def test_fetched_road_network_is_the_served_ways(
    official: LocalHTTPServer, shared_data: Path, tmp_path: Path
) -> None:
    import osmnx

    dest = tmp_path / "bundle"
    fetch_territory("gers", dest, include_addresses=False)
    graph = osmnx.load_graphml(dest / "roads_gers_osm.graphml")
    nodes, ways = overpass_ways(shared_data / "gers")
    assert set(graph.nodes) <= set(nodes)
    # simplification keeps the nodes that do not have exactly two neighbours
    neighbours: dict[int, set[int]] = {}
    for w in ways:
        for a, b in itertools_pairs(w["nodes"]):
            neighbours.setdefault(a, set()).add(b)
            neighbours.setdefault(b, set()).add(a)
    junctions = {n for n, near in neighbours.items() if len(near) != 2}
    assert junctions and junctions <= set(graph.nodes)
    # every way both ways (no oneway tag): twice the ways' great-circle length
    expected_m = 2 * sum(
        haversine_m(nodes[a], nodes[b]) for w in ways for a, b in itertools_pairs(w["nodes"])
    )
    total_m = sum(d["length"] for _, _, d in graph.edges(data=True))
    assert total_m == pytest.approx(expected_m, rel=1e-6)
    spec = tomllib_load(dest / "territory.toml")["layers"]["roads"]
    assert spec["format"] == "graphml" and spec["buffer_m"] == 15000.0
    assert "ODbL" in spec["licence"]
    assert official.count("/overpass/status") == 0  # rate-limit check switched off


def itertools_pairs(values: list) -> list:
    return list(itertools.pairwise(values))


def test_second_fetch_uses_the_cache_and_force_downloads_again(
    official: LocalHTTPServer, tmp_path: Path
) -> None:
    first = fetch_territory("gers", tmp_path / "one", include_osm=False)
    made = official.count()
    # département, communes, EPCI, 2 COG files, dataset, 2 CSV, BAN, neighbours, INSEE ages
    assert made == 11
    second = fetch_territory("gers", tmp_path / "two", include_osm=False)
    assert official.count() == made  # nothing asked again
    assert all(d["from_cache"] for d in second.downloads)
    assert {k: v["sha256"] for k, v in first.files.items() if k != "territory.toml"} == {
        k: v["sha256"] for k, v in second.files.items() if k != "territory.toml"
    }
    fetch_territory("gers", tmp_path / "three", include_osm=False, force=True)
    assert official.count() == 2 * made


def test_osm_answers_are_cached_and_rate_limit_checks_status(
    official: LocalHTTPServer, tmp_path: Path
) -> None:
    import osmnx

    area = shapely.Point(AUCH).buffer(0.05)
    url = official.url + "/overpass"
    stats = fetch_osm_graphml(area, tmp_path / "a.graphml", overpass_url=url, rate_limit=True)
    assert official.count("/overpass/status") == 1
    assert official.count("/overpass/interpreter") == 1
    assert stats["nodes"] == osmnx.load_graphml(tmp_path / "a.graphml").number_of_nodes() > 0
    assert not stats["from_cache"]
    again = fetch_osm_graphml(area, tmp_path / "b.graphml", overpass_url=url, rate_limit=False)
    assert official.count("/overpass/interpreter") == 1 and again["from_cache"]
    assert osmnx.settings.overpass_url != url  # osmnx's settings were restored
    query = parse_qs(official.requests("/overpass/interpreter")[0].body.decode())["data"][0]
    assert '["highway"]' in query and "poly:" in query


# --- downloads: resume, range, failures ---------------------------------------------------------


def test_interrupted_download_resumes_with_a_range_request(
    http_server: LocalHTTPServer,  # noqa: F811
    shared_data: Path,
    tmp_path: Path,
) -> None:
    body = payloads(shared_data)["/ban/adresses-32.csv.gz"][0]
    url = http_server.add("/adresses-32.csv.gz", body, etag='"v1"')
    http_server.cut_once("/adresses-32.csv.gz", len(body) // 3)
    downloader = Downloader(cache_dir=tmp_path / "dl", backoff_s=0.0, retries=0)
    with pytest.raises(OfflineError, match="cut") as caught:
        downloader.download(url, source="BAN")
    assert "\n" not in str(caught.value)
    parts = list((tmp_path / "dl").glob("*.part"))
    assert len(parts) == 1 and parts[0].stat().st_size == len(body) // 3
    assert not [p for p in (tmp_path / "dl").iterdir() if not p.name.endswith((".part", ".json"))]

    done = downloader.download(url, source="BAN")  # next run: resumes
    second = http_server.requests("/adresses-32.csv.gz")[1]
    assert second.headers["Range"] == f"bytes={len(body) // 3}-"
    assert second.headers["If-Range"] == '"v1"'
    assert done.path.read_bytes() == body
    assert done.sha256 == file_sha256_bytes(body) and done.size == len(body)
    assert not list((tmp_path / "dl").glob("*.part*"))


def test_cut_download_is_resumed_within_the_same_call(
    http_server: LocalHTTPServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    body = bytes(range(256)) * 400
    url = http_server.add("/f.bin", body)
    http_server.cut_once("/f.bin", 10_000)
    done = Downloader(cache_dir=tmp_path, backoff_s=0.0, retries=1).download(url, source="t")
    assert done.path.read_bytes() == body
    assert [r.headers.get("Range") for r in http_server.requests("/f.bin")] == [
        None,
        "bytes=10000-",
    ]


def test_server_ignoring_range_gets_a_full_download(
    http_server: LocalHTTPServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    body = bytes(range(256)) * 400
    url = http_server.add("/f.bin", body, honour_range=False)
    http_server.cut_once("/f.bin", 20_000)
    done = Downloader(cache_dir=tmp_path, backoff_s=0.0, retries=1).download(url, source="t")
    assert http_server.requests("/f.bin")[1].headers["Range"] == "bytes=20000-"
    assert done.path.read_bytes() == body  # the 200 answer replaced the part


def test_failed_downloads_leave_nothing_in_the_cache(
    http_server: LocalHTTPServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    cache = tmp_path / "dl"
    url = http_server.add("/f.json", "{}")
    http_server.fail_next("/f.json", 503, 503)
    downloader = Downloader(cache_dir=cache, backoff_s=0.0, retries=1)
    with pytest.raises(OfflineError, match="HTTP 503"):
        downloader.download(url, source="geo.api.gouv.fr")
    assert http_server.count("/f.json") == 2
    assert not cache.exists() or not list(cache.iterdir())
    with pytest.raises(DataError, match="HTTP 404"):
        downloader.download(http_server.url + "/missing", source="geo.api.gouv.fr")
    assert not cache.exists() or not list(cache.iterdir())
    # once the server is fine, the file is fetched (nothing stale was kept)
    assert downloader.download(url, source="geo.api.gouv.fr").path.read_text() == "{}"


def test_truncated_answer_is_never_cached(
    http_server: LocalHTTPServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    url = http_server.add("/f.bin", b"x" * 5000, honour_range=False)
    http_server.cut_once("/f.bin", 100)
    http_server.cut_once("/f.bin", 200)
    downloader = Downloader(cache_dir=tmp_path, backoff_s=0.0, retries=1)
    with pytest.raises(OfflineError):
        downloader.download(url, source="t")
    assert downloader.cached(url) is None


# --- errors -----------------------------------------------------------------------------------


def test_offline_gives_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from coverage.cli import main

    monkeypatch.setenv("COVERAGE_GEO_API_URL", closed_port_url())
    monkeypatch.setenv("COVERAGE_HTTP_BACKOFF_S", "0")
    monkeypatch.setenv("COVERAGE_HTTP_RETRIES", "1")
    monkeypatch.setenv("COVERAGE_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(OfflineError) as caught:
        fetch_territory("gers", tmp_path / "bundle")
    message = str(caught.value)
    assert "geo.api.gouv.fr" in message and "--data DOSSIER" in message and "\n" not in message

    assert main(["fetch", "gers", "--data", str(tmp_path / "bundle")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("Erreur :") and "geo.api.gouv.fr" in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_unreachable_overpass_leaves_the_bundle_untouched(
    official: LocalHTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COVERAGE_OVERPASS_URL", closed_port_url() + "/api")
    dest = tmp_path / "bundle"
    with pytest.raises(
        OfflineError, match="serveur Overpass d'OpenStreetMap injoignable"
    ) as caught:
        fetch_territory("gers", dest, include_addresses=False)
    assert "--no-osm" in str(caught.value) and "\n" not in str(caught.value)
    assert not dest.exists()  # nothing is written before every download succeeded
    assert official.count("/departements/32/communes") == 1
    assert not list((tmp_path / "cache" / "staging").iterdir())


def test_unknown_territory_needs_a_departement(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from coverage.cli import main
    from coverage.jobs.fetch import _resolve_identity

    with pytest.raises(ConfigError, match=r"unknown territory 'haut-pays'.*--departement"):
        fetch_territory("haut-pays", tmp_path / "haut-pays")
    with pytest.raises(ConfigError, match=r"département 32 .* not 40"):
        fetch_territory("gers", tmp_path / "gers", departement="40")
    with pytest.raises(ConfigError, match="not a département code"):
        fetch_territory("landes", tmp_path / "landes", departement="400")
    # a département's own name needs no code: Landes is 40, Corse-du-Sud 2A
    assert _resolve_identity("landes", None, tmp_path / "landes")[:2] == ("40", "Landes")
    assert _resolve_identity("corse-du-sud", None, tmp_path / "c")[0] == "2A"
    assert main(["fetch", "haut-pays", "--data", str(tmp_path / "haut-pays")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("Erreur :") and "--departement" in err and len(err.splitlines()) == 1


def test_cli_fetch_then_info(
    official: LocalHTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from coverage.cli import main

    dest = tmp_path / "bundle"
    assert main(["fetch", "gers", "--data", str(dest), "--no-osm", "--no-addresses"]) == 0
    out = capsys.readouterr().out
    assert "Lot prêt" in out and "communes_gers.geojson" in out and "fetch.json" in out
    assert not (dest / "adresses-32.csv.gz").exists()
    assert not (dest / "roads_gers_osm.graphml").exists()
    assert main(["info", "gers", "--data", str(dest)]) == 0
    out = capsys.readouterr().out
    assert "458 communes" in out and "192 645 habitants" in out and "17 EPCI" in out
    assert "Auch (commune répartie entre Auch-1, Auch-2 et Auch-3), 22 428 hab." in out


def test_unusable_answer_names_row_and_field_and_is_not_kept(
    official: LocalHTTPServer, shared_data: Path, tmp_path: Path
) -> None:
    body = payloads(shared_data)["/departements/32/communes"][0]
    data = json.loads(body)
    auch = [f["properties"]["code"] for f in data["features"]].index("32013")
    data["features"][auch]["properties"]["population"] = None
    official.add("/departements/32/communes", json.dumps(data), content_type="application/json")
    with pytest.raises(DataError) as caught:
        fetch_territory("gers", tmp_path / "b", include_osm=False, include_addresses=False)
    message = str(caught.value)
    assert f"ligne {auch + 1} (code=32013)" in message and "champ « population »" in message
    # the bad answer was dropped from the cache: the next run asks again and succeeds
    official.add("/departements/32/communes", body, content_type="application/json")
    fetch_territory("gers", tmp_path / "b", include_osm=False, include_addresses=False)
    assert official.count("/departements/32/communes") == 2


def test_cog_older_than_the_api_is_named(
    official: LocalHTTPServer, shared_data: Path, tmp_path: Path
) -> None:
    cog = (shared_data / "gers" / "cog2022_communes_gers.csv").read_text("utf-8")
    official.add(
        "/cog/v_commune_2022.csv",
        "\n".join(line for line in cog.splitlines() if ",32013," not in line) + "\n",
        content_type="text/csv",
    )
    with pytest.raises(DataError, match=r"32013 \(Auch\).*COVERAGE_COG_YEAR") as caught:
        fetch_territory("gers", tmp_path / "b", include_osm=False, include_addresses=False)
    assert "champ « CAN »" in str(caught.value)


# --- pieces -----------------------------------------------------------------------------------


def test_france_services_kept_by_departement_or_distance(shared_data: Path) -> None:
    gers = shared_data / "gers"
    sites = gpd.read_file(gers / "france_services_gers.geojson")
    table = pd.DataFrame(sites.drop(columns=["geometry", "in_gers"])).astype(str)
    communes = gpd.read_file(gers / "communes_gers.geojson").to_crs("EPSG:2154")
    outline = shapely.union_all(communes.geometry.values)
    frame, columns = select_france_services(
        table, url="test", outline_2154=outline, departement="32", radius_m=10_000, flag="in_gers"
    )
    distance = sites.to_crs("EPSG:2154").distance(outline).to_numpy()
    expected = (sites["insee_dep"] == "32").to_numpy() | (distance <= 10_000)
    assert 27 < expected.sum() < 92  # the radius matters here
    assert sorted(frame["id_fs"]) == sorted(sites.loc[expected, "id_fs"])
    assert int(frame["in_gers"].sum()) == 27
    assert columns["name"] == "lib_fs" and columns["lat"] == "latitude"
    first = sites.set_index("id_fs").loc[frame["id_fs"].iloc[0]]
    assert frame["latitude"].iloc[0] == pytest.approx(first["latitude"])


def test_split_canton_without_bureau_uses_the_fraction_cantons() -> None:
    square = shapely.box(0.0, 43.0, 0.1, 43.1)
    communes = gpd.GeoDataFrame(
        {
            "code": ["99001", "99002", "99003"],
            "nom": ["Ville", "Bourg", "Hameau"],
            "population": [1000, 200, 50],
            "codesPostaux": ["", "", ""],
            "codeEpci": ["200000001", "200000001", ""],
        },
        geometry=[square, shapely.box(0.1, 43.0, 0.2, 43.1), shapely.box(0.2, 43.0, 0.3, 43.1)],
        crs="EPSG:4326",
    )
    epcis = pd.DataFrame(
        {"code": ["200000001"], "nom": ["CC Test"], "type": ["CC"], "population": [1200]}
    )
    cog_communes = pd.DataFrame(
        {
            "COM": ["99001", "99002", "99003"],
            "LIBELLE": ["Ville", "Bourg", "Hameau"],
            "CAN": ["9999", "9901", "9902"],
        }
    )
    cog_cantons = pd.DataFrame(
        {
            "CAN": ["9901", "9902", "9999"],
            "LIBELLE": ["Nord", "Sud", "Ville"],
            "BURCENTRAL": ["99002", "99003", "99001"],
            "TYPECT": ["C", "C", "V"],
            "COMPCT": ["2", "3", ""],
        }
    )
    layers = build_admin_layers(
        communes, epcis, cog_communes, cog_cantons, departement="99", dep_name="Test"
    )
    assert layers.split_cantons == {
        "9999": {
            "communes": ["99001"],
            "cantons": ["9901", "9902"],
            "label": "Ville (commune répartie entre Nord et Sud)",
        }
    }
    assert any("COMPCT" in note for note in layers.notes)
    # the commune without EPCI gets INSEE's ZZZZZZZZZ and its own line in the EPCI layer
    assert list(layers.communes["codeEpci"]) == ["200000001", "200000001", "ZZZZZZZZZ"]
    assert sorted(layers.epci["epci_siren"]) == ["200000001", "ZZZZZZZZZ"]
    # canton polygons are their whole communes (the split one left out)
    nord = layers.cantons.set_index("canton_code").loc["9901", "geometry"]
    assert nord.symmetric_difference(shapely.box(0.1, 43.0, 0.2, 43.1)).area < 1e-9
    outline = layers.departement.geometry.iloc[0]
    assert outline.symmetric_difference(shapely.box(0.0, 43.0, 0.3, 43.1)).area < 1e-9


def test_sources_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COVERAGE_GEO_API_URL", "http://127.0.0.1:9/geo/")
    monkeypatch.setenv("COVERAGE_OVERPASS_RATE_LIMIT", "0")
    sources = FetchSources.from_env()
    assert sources.geo_api_url == "http://127.0.0.1:9/geo"
    assert sources.overpass_rate_limit is False
    assert sources.ban_url == "https://adresse.data.gouv.fr/data/ban/adresses/latest/csv"
    monkeypatch.setenv("COVERAGE_COG_YEAR", "2024")
    assert FetchSources.from_env().cog_url == "https://www.insee.fr/fr/statistiques/fichier/7766585"
    monkeypatch.setenv("COVERAGE_COG_YEAR", "2019")
    with pytest.raises(ConfigError, match="COVERAGE_COG_URL"):
        FetchSources.from_env()
    monkeypatch.setenv("COVERAGE_COG_URL", "http://127.0.0.1:9/cog")
    assert FetchSources.from_env().cog_url == "http://127.0.0.1:9/cog"
    monkeypatch.setenv("COVERAGE_OVERPASS_RATE_LIMIT", "maybe")
    with pytest.raises(ConfigError, match="COVERAGE_OVERPASS_RATE_LIMIT"):
        FetchSources.from_env()


# --- layout -----------------------------------------------------------------------------------

SOURCES = Path(__file__).resolve().parents[1] / "coverage" / "sources"
_LOWER = ("coverage._http", "coverage._cache", "coverage.errors", "coverage.settings")
_LOWER += ("coverage.jsonio", "coverage.tomlio", "coverage.layers", "coverage.sources")
_LOWER += ("coverage.routing.osm_download", "coverage.progress")


def imported_modules(path: Path) -> list[str]:
    """Every module a file imports (``from coverage import x`` counts as ``coverage.x``)."""
    import ast

    names = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "coverage":
            names += [f"coverage.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return names


def test_source_modules_import_only_lower_layers() -> None:
    modules = sorted(SOURCES.glob("*.py"))
    assert {p.stem for p in modules} >= {"geo_api", "cog", "france_services", "osm", "bundle"}
    for path in modules:
        for name in imported_modules(path):
            assert name.split(".")[0] not in ("api", "maps"), f"{path.name} imports {name}"
            if name.startswith("coverage"):
                assert name == "coverage.__version__" or name.startswith(_LOWER), (
                    f"{path.name} imports {name}"
                )


def test_former_module_re_exports_the_moved_names() -> None:
    import coverage.fetch as former
    from coverage import settings
    from coverage.jobs import fetch as job
    from coverage.sources import addresses, admin, cog, osm

    assert former.fetch_territory is job.fetch_territory
    assert former.FetchSources is FetchSources is job.FetchSources
    assert former.build_admin_layers is build_admin_layers is admin.build_admin_layers
    assert former.fetch_osm_graphml is fetch_osm_graphml is osm.fetch_osm_graphml
    assert former.check_ban_file is addresses.check_ban_file
    assert former.COG_FOLDERS is cog.COG_FOLDERS
    assert former.BAN_URL_ENV == settings.BAN_DOWNLOAD_URL_ENV == "COVERAGE_BAN_URL"
    assert all(hasattr(former, name) for name in former.__all__)
    init = Path(job.__file__).with_name("__init__.py").read_text("utf-8")
    assert (
        init == '"""Jobs: one module per command, the orchestration the CLI and the API share."""\n'
    )


# --- the INSEE age structure (the publics layer) ------------------------------------------------


def test_fetch_writes_the_insee_age_structure_as_publics(
    official: LocalHTTPServer, shared_data: Path, tmp_path: Path
) -> None:
    from coverage.layers import load_territory
    from coverage.layers.publics import read_publics

    dest = tmp_path / "bundle"
    report = fetch_territory("gers", dest, include_osm=False, include_addresses=False)
    gers = load_territory("gers", data_dir=dest)
    spec = gers.config.layer("publics")
    assert spec.file == "publics_gers.csv" and spec.url == official.url + AGES_PATH
    assert spec.licence == "Licence Ouverte / Etalab" and spec.options["year"] == "2022"
    assert "recensement de la population 2022" in spec.source
    table = read_publics(gers)
    assert list(table.publics) == [
        "age_0_14",
        "age_15_59",
        "age_60_74",
        "age_60_plus",
        "age_75_plus",
    ]
    assert table.publics["age_75_plus"].label == "Personnes de 75 ans ou plus"
    assert table.publics["age_75_plus"].year == "2022"
    # hand figures: Auch (22 428) x (1/16 + 1/16) for 75+, x 3/8 for 60+, x 1/2 for 15-59
    auch = table.counts.loc["32013"]
    assert auch["age_75_plus"] == pytest.approx(22428 / 8, abs=1e-9)
    assert auch["age_60_plus"] == pytest.approx(22428 * 0.375, abs=1e-9)
    assert auch["age_15_59"] == pytest.approx(22428 * 0.5, abs=1e-9)
    # the commune the file leaves out is missing (never zero), and said so
    assert table.missing("age_75_plus") == [AGES_LEFT_OUT]
    assert any(AGES_LEFT_OUT in note and "jamais comptées" in note for note in report.notes)
    assert len(table.counts) == 458 and table.counts.loc[AGES_LEFT_OUT].isna().all()
    assert "40001" not in table.counts.index  # other départements' rows are not kept
    communes = gers.communes.set_index("insee_code")["population"]
    total = communes.drop(AGES_LEFT_OUT).sum()
    assert table.counts["age_0_14"].sum() == pytest.approx(total * 0.125, abs=1e-6)
    # fetch.json records the INSEE file with its URL and checksum
    record = json.loads((dest / "fetch.json").read_text("utf-8"))
    entry = record["files"]["publics_gers.csv"]
    assert entry["layer"] == "publics" and entry["url"] == official.url + AGES_PATH
    assert entry["sha256"] == file_sha256(dest / "publics_gers.csv")
    downloads = {d["url"]: d for d in record["downloads"]}
    served = payloads(shared_data)[AGES_PATH][0]
    assert downloads[official.url + AGES_PATH]["sha256"] == file_sha256_bytes(served)
    assert record["options"]["include_ages"] is True


def test_fetch_without_ages_writes_no_publics(official: LocalHTTPServer, tmp_path: Path) -> None:
    dest = tmp_path / "bundle"
    fetch_territory("gers", dest, include_osm=False, include_addresses=False, include_ages=False)
    assert not (dest / "publics_gers.csv").exists()
    assert "publics" not in tomllib_load(dest / "territory.toml")["layers"]
    assert official.count(AGES_PATH) == 0


def test_insee_file_without_age_columns_is_named() -> None:
    from coverage.sources.ages import ages_from_table

    table = pd.DataFrame({"CODGEO": ["32013"], "P22_POP": ["100"], "P22_POP0014": ["10"]})
    with pytest.raises(DataError, match="P22_POP1529"):
        ages_from_table(table, url="http://x/ages.zip", codes=["32013"])
    bands = {f"P22_POP{b}": ["1"] for b in AGE_SPLIT}
    table = pd.DataFrame({"CODGEO": ["32013"], "P22_POP": ["7"], **bands})
    table.loc[0, "P22_POP7589"] = "n.d."
    with pytest.raises(DataError, match="commune 32013 : P22_POP7589 doit être un nombre"):
        ages_from_table(table, url="http://x/ages.zip", codes=["32013"])
