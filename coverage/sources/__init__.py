"""The official sources of a territory bundle (``coverage fetch``), one module per source.

- :mod:`~coverage.sources.geo_api`: geo.api.gouv.fr (département, communes, EPCI);
- :mod:`~coverage.sources.cog`: the INSEE COG (commune and canton files);
- :mod:`~coverage.sources.admin`: the two joined into the administrative layers;
- :mod:`~coverage.sources.datagouv`: the data.gouv.fr API (datasets, CSV resources);
- :mod:`~coverage.sources.france_services`: the France services list;
- :mod:`~coverage.sources.addresses`: the BAN address files;
- :mod:`~coverage.sources.osm`: the OpenStreetMap drive network (Overpass, osmnx);
- :mod:`~coverage.sources.bundle`: staging and atomic writing of the bundle, ``fetch.json``;
- :mod:`~coverage.sources.description`: the bundle's ``territory.toml``.

These modules know the engine's lower layers only (``coverage._http``,
``_cache``, ``errors``, ``settings``, ``tomlio``, ``layers``, and
``routing.osm_download`` for osmnx); the orchestration is
:mod:`coverage.jobs.fetch`.
"""
