"""The road network of a territory: its ``[layers.roads]`` file (or osmnx online) as a RoadNetwork.

Glue between :mod:`coverage.layers` (which knows territories) and
:mod:`coverage.routing.network` (which knows graphs only). The roads layer of
``territory.toml`` names the file and may set build options::

    [layers.roads]
    file = "roads_gers_travelmapping.osm"
    format = "osm_xml"            # osm_xml, pbf or graphml; guessed when absent
    detour_factor = 1.3           # options below are optional
    profile = "france"            # built-in name, or a TOML file relative to the bundle
    calibration_factor = 1.0
    peak_factor = 1.0
    max_edge_m = 300
    motorway_implies_oneway = false
    buffer_m = 15000              # online build only: buffer around the outline
    network_kind = "osm"          # "osm": a full drivable network; "numbered_roads": a
                                  # skeleton of numbered roads, local roads missing

Keyword arguments given to :func:`load_territory_network` win over the layer's
options, which win over the engine's defaults.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from coverage.errors import ConfigError
from coverage.layers.config import (
    LayerSpec,
    TerritoryConfig,
    find_territory_description,
    load_territory_config,
)
from coverage.layers.readers import layer_path
from coverage.layers.territory import Territory
from coverage.routing.graph import RoadNetwork
from coverage.routing.network import DEFAULT_MAX_EDGE_M, load_network, network_from_polygon
from coverage.routing.speeds import DEFAULT_PROFILE, SpeedProfile
from coverage.settings import resolve_data_dir

ROAD_OPTIONS = (
    "profile",
    "detour_factor",
    "calibration_factor",
    "peak_factor",
    "max_edge_m",
    "motorway_implies_oneway",
    "buffer_m",
    "network_kind",
)
"""Options a ``[layers.roads]`` table may set."""

NETWORK_KINDS: dict[str, str] = {
    "osm": "réseau routier carrossable complet (OpenStreetMap)",
    "numbered_roads": "squelette des routes numérotées (autoroutes, nationales, "
    "départementales) : les voies communales n'y sont pas",
}
"""What a roads layer holds, and how results and maps say it (French)."""

_DEFAULTS: dict[str, Any] = {
    "profile": DEFAULT_PROFILE,
    "detour_factor": 1.0,
    "calibration_factor": 1.0,
    "peak_factor": 1.0,
    "max_edge_m": DEFAULT_MAX_EDGE_M,
    "motorway_implies_oneway": False,
    "buffer_m": 15_000.0,
    "network_kind": "osm",
}


def road_layer_settings(
    config: TerritoryConfig, bundle_dir: Path, *, required: bool = True, **overrides: Any
) -> tuple[LayerSpec | None, dict[str, Any]]:
    """Return a territory's roads layer and the build options it resolves to.

    Parameters
    ----------
    config
        The parsed ``territory.toml``.
    bundle_dir
        The data bundle (a profile path in the layer is relative to it).
    required
        If ``False``, a territory without a roads layer gets the default options
        (and ``None`` as layer).
    **overrides
        Options that win over the layer's (``None`` values are ignored).

    Returns
    -------
    tuple of (LayerSpec or None, dict)

    Raises
    ------
    ConfigError
        If the territory has no roads layer (and ``required``) or the layer sets
        an unknown option.
    """
    if not required and "roads" not in config.layers:
        settings = dict(_DEFAULTS)
        settings.update({k: v for k, v in overrides.items() if v is not None})
        return None, settings
    spec = config.layer("roads")
    unknown = sorted(set(spec.options) - set(ROAD_OPTIONS))
    if unknown:
        raise ConfigError(
            f"{config.path}: [layers.roads] unknown option(s) {', '.join(unknown)} "
            f"(known: {', '.join(ROAD_OPTIONS)})"
        )
    settings = dict(_DEFAULTS)
    for key, value in spec.options.items():
        settings[key] = value
    if settings["network_kind"] not in NETWORK_KINDS:
        raise ConfigError(
            f"{config.path}: [layers.roads] network_kind must be one of "
            f"{', '.join(NETWORK_KINDS)}, got {settings['network_kind']!r}"
        )
    profile = settings["profile"]
    if isinstance(profile, str) and profile.endswith(".toml") and not Path(profile).is_absolute():
        settings["profile"] = str(bundle_dir / profile)
    for key, value in overrides.items():
        if value is not None:
            settings[key] = value
    return spec, settings


def load_territory_network(
    territory: Territory | str = "gers",
    *,
    data_dir: str | Path | None = None,
    profile: str | Path | SpeedProfile | None = None,
    detour_factor: float | None = None,
    calibration_factor: float | None = None,
    peak_factor: float | None = None,
    max_edge_m: float | None = None,
    online: bool = False,
    buffer_m: float | None = None,
    use_cache: bool = True,
    cache_dir: str | Path | None = None,
    progress: bool = False,
) -> RoadNetwork:
    """Load the road network of a territory from its ``[layers.roads]`` file.

    Parameters
    ----------
    territory
        A loaded :class:`~coverage.layers.Territory` or a territory name (``"gers"``).
    data_dir
        Bundle directory when ``territory`` is a name (as for ``load_territory``).
    profile, detour_factor, calibration_factor, peak_factor, max_edge_m
        Override the layer's options (``None``: the layer's value, else the default).
    online
        Download the network with osmnx (``graph_from_polygon``) on the
        département outline plus the layer's ``buffer_m`` instead of reading
        the file (not cached; neither the file nor the roads layer is needed).
    buffer_m
        Online only: buffer around the outline in metres (default: the layer's
        ``buffer_m``, else 15 000).
    use_cache, cache_dir, progress
        As for :func:`coverage.routing.network.load_network`.

    Returns
    -------
    RoadNetwork
        Coordinates in the territory's CRS; ``info.report["territory"]`` holds
        the territory name and the layer's provenance; ``info.source_date`` is
        the layer's ``date`` when it declares one.

    Raises
    ------
    DataError
        If the roads file is missing from the bundle.
    ConfigError
        If the territory has no roads layer or an option is invalid.
    NetworkError
        If the file cannot be read as a road network.
    """
    if isinstance(territory, Territory):
        config, bundle = territory.config, territory.data_dir
    else:
        bundle, origin = resolve_data_dir(territory, data_dir)
        if not bundle.is_dir():
            from coverage.errors import DataError

            raise DataError(
                f"aucun lot de données pour '{territory}' (cherché via {origin}) ; indiquez "
                "--data DOSSIER vers un lot",
                path=bundle,
            )
        config = load_territory_config(find_territory_description(territory, bundle))
    spec, settings = road_layer_settings(
        config,
        bundle,
        required=not online,
        profile=profile,
        detour_factor=detour_factor,
        calibration_factor=calibration_factor,
        peak_factor=peak_factor,
        max_edge_m=max_edge_m,
        buffer_m=buffer_m,
    )
    build = {k: settings[k] for k in ROAD_OPTIONS if k not in ("buffer_m", "network_kind")}
    if online:
        loaded = territory if isinstance(territory, Territory) else None
        if loaded is None:
            from coverage.layers import load_territory

            loaded = load_territory(config.name, data_dir=bundle)
        outline = _outline_wgs84(loaded)
        build.pop("motorway_implies_oneway")
        net = network_from_polygon(
            outline, buffer_m=settings["buffer_m"], crs=config.crs, progress=progress, **build
        )
    else:
        assert spec is not None
        path = layer_path(spec, bundle)
        net = load_network(
            path,
            format=spec.format or None,
            crs=config.crs,
            use_cache=use_cache,
            cache_dir=cache_dir,
            progress=progress,
            **build,
        )
    report = dict(net.info.report)
    kind = "osm" if online else settings["network_kind"]
    report["territory"] = {
        "name": config.name,
        "layer": spec.provenance() if spec is not None else {},
        "online": online,
        "network_kind": kind,
        "network_description": NETWORK_KINDS[kind],
    }
    date = net.info.source_date
    from_header = report.get("source_date_origin") == "osm header"
    if spec is not None and spec.date and not online and not from_header:
        date = spec.date
    info = dataclasses.replace(net.info, source_date=date, report=report)
    return dataclasses.replace(net, info=info)


def _outline_wgs84(territory: Territory) -> Any:
    import shapely

    outline = territory.departement.to_crs("EPSG:4326").geometry.values
    return shapely.union_all(outline)
