"""Geocoding: French addresses to points with an honest quality (local index, BAN API, commune).

Backends share the :class:`~coverage.geocode.base.Geocoder` interface:

- ``local`` (:class:`~coverage.geocode.local.LocalGeocoder`): an offline index
  of the territory's BAN/BANO address file, fuzzy-matched within the commune;
- ``ban`` (:class:`~coverage.geocode.ban.BanGeocoder`): the national address
  API, with a disk cache and a rate limit;
- ``commune`` (:class:`~coverage.geocode.communes.CommuneGeocoder`): the
  commune's representative point.

:func:`~coverage.geocode.chain.make_geocoder` chains them (``local`` then
``commune`` by default); :func:`~coverage.geocode.batch.geocode_file` geocodes
a whole CSV table, row by row, nothing dropped.
"""

from coverage.csvio import read_table
from coverage.geocode.ban import BanGeocoder
from coverage.geocode.base import (
    QUALITY_LABELS,
    QUALITY_RANK,
    STATUS_LABELS,
    AddressQuery,
    Geocoder,
    GeocodeResult,
)
from coverage.geocode.batch import (
    BatchResult,
    ColumnMap,
    detect_columns,
    geocode_file,
    geocode_frame,
)
from coverage.geocode.chain import DEFAULT_BACKENDS, GeocoderChain, make_geocoder
from coverage.geocode.communes import CommuneGeocoder, CommuneIndex
from coverage.geocode.coords import CoordinateCheck, CoordinateValidator
from coverage.geocode.local import AddressIndex, LocalGeocoder
from coverage.geocode.normalize import normalise_text, parse_address

__all__ = [
    "DEFAULT_BACKENDS",
    "QUALITY_LABELS",
    "QUALITY_RANK",
    "STATUS_LABELS",
    "AddressIndex",
    "AddressQuery",
    "BanGeocoder",
    "BatchResult",
    "ColumnMap",
    "CommuneGeocoder",
    "CommuneIndex",
    "CoordinateCheck",
    "CoordinateValidator",
    "GeocodeResult",
    "Geocoder",
    "GeocoderChain",
    "LocalGeocoder",
    "detect_columns",
    "geocode_file",
    "geocode_frame",
    "make_geocoder",
    "normalise_text",
    "parse_address",
    "read_table",
]
