"""Accuracy and speed of a geocoder on noisy free-text rebuilds of a reference address file.

The method of ``benchmarks/geocode.py``: draw a seeded sample of address
points (BAN/BANO rows, whose true position and commune are known), rebuild
each one as free text the way planners type it (missing accents, upper case,
street types abbreviated ``av``/``bd``/``chem``/``rte``/``pl`` or left out,
``St``/``Ste``, a typo now and then, the postcode instead of the commune name
or the commune without postcode), geocode the texts and compare:

- the share placed at ``housenumber`` quality within 50 m of the truth;
- the share placed in the wrong commune (any quality);
- the quality and status mix, the median and 95th percentile error;
- the throughput (addresses per second, index build excluded).

:func:`drop_rows` builds the harder variant, where the sampled rows are
removed from the index so that their numbers must be interpolated.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pyproj import Transformer
from unidecode import unidecode

from coverage.geocode.base import AddressQuery, Geocoder

TYPE_ABBREVIATIONS: dict[str, tuple[str, ...]] = {
    "Avenue": ("av", "Av.", "AV"),
    "Boulevard": ("bd", "Bd", "BD"),
    "Chemin": ("chem", "Ch.", "CHE"),
    "Route": ("rte", "Rte"),
    "Place": ("pl", "Pl."),
    "Impasse": ("imp", "Imp."),
    "Allée": ("all", "All."),
    "Lotissement": ("lot", "Lot."),
    "Résidence": ("res", "Rés."),
    "Saint": ("St",),
    "Sainte": ("Ste",),
}
"""Abbreviations planners use, drawn at random for the noisy texts."""

_WORD = re.compile(r"[A-Za-zÀ-ÿ]+")
_DROPPABLE_TYPES = {"Rue", "Avenue", "Boulevard", "Chemin", "Route", "Place", "Impasse", "Allée"}


def noisy_addresses(
    table: pd.DataFrame,
    *,
    n: int,
    seed: int = 0,
    typo_rate: float = 0.1,
    drop_type_rate: float = 0.05,
) -> pd.DataFrame:
    """Draw ``n`` address rows and rebuild each as noisy free text.

    Parameters
    ----------
    table
        Address table (``id``, ``housenumber``, ``street``, ``postcode``,
        ``commune_name``, ``lon``, ``lat``); the INSEE code is ``id[:5]``.
    n
        Sample size (capped at the number of rows with a house number).
    seed
        Seed of the draw and of the noise.
    typo_rate
        Share of texts with one typo (a dropped or swapped letter) in the street.
    drop_type_rate
        Share of texts whose street type word is left out (``12 Etigny``).

    Returns
    -------
    pandas.DataFrame
        ``row`` (position in ``table``), ``id``, ``text``, ``true_insee``,
        ``true_lon``, ``true_lat``, ``commune_form`` (``postcode+name``,
        ``postcode``, ``name``), ``typo`` (bool).
    """
    rng = np.random.default_rng(seed)
    usable = table[
        table["housenumber"].fillna("").str.strip().ne("")
        & table["street"].fillna("").str.strip().ne("")
        & np.isfinite(pd.to_numeric(table["lon"], errors="coerce"))
    ]
    size = min(n, len(usable))
    rows = rng.choice(usable.index.to_numpy(), size=size, replace=False)
    records = []
    for row in rows:
        rec = table.loc[row]
        street, typo = _noisy_street(str(rec["street"]), rng, typo_rate, drop_type_rate)
        number = _noisy_number(str(rec["housenumber"]), rng)
        draw = rng.random()
        city = _noisy_city(str(rec["commune_name"]), rng)
        if draw < 0.35:
            form, commune = "postcode+name", f"{rec['postcode']} {city}"
        elif draw < 0.65:
            form, commune = "postcode", str(rec["postcode"])
        else:
            form, commune = "name", city
        sep = ", " if rng.random() < 0.5 else " "
        records.append(
            {
                "row": int(row),
                "id": str(rec["id"]),
                "text": f"{number} {street}{sep}{commune}",
                "true_insee": str(rec["id"])[:5],
                "true_lon": float(rec["lon"]),
                "true_lat": float(rec["lat"]),
                "commune_form": form,
                "typo": typo,
            }
        )
    return pd.DataFrame.from_records(records)


def _noisy_number(value: str, rng: np.random.Generator) -> str:
    match = re.match(r"^(\d+)\s*([A-Za-z]*)$", value.strip())
    if not match:
        return value
    number, suffix = match.groups()
    if not suffix:
        return number
    suffix = suffix.lower()
    forms = [f"{number} {suffix}", f"{number}{suffix}", f"{number} {suffix.upper()}"]
    if suffix == "bis":
        forms.append(f"{number}B")
    return forms[int(rng.integers(len(forms)))]


def _noisy_street(
    label: str, rng: np.random.Generator, typo_rate: float, drop_type_rate: float
) -> tuple[str, bool]:
    words = label.split(" ")
    if len(words) > 1 and rng.random() < drop_type_rate and words[0] in _DROPPABLE_TYPES:
        words = words[1:]
    out = []
    for position, word in enumerate(words):
        head, _, tail = word.partition("-")
        options = TYPE_ABBREVIATIONS.get(head)
        if options and rng.random() < 0.5 and (position == 0 or head in ("Saint", "Sainte")):
            head = options[int(rng.integers(len(options)))]
            word = f"{head}-{tail}" if tail else head
        out.append(word)
    text = " ".join(out)
    if rng.random() < 0.6:
        text = unidecode(text)
    if rng.random() < 0.3:
        text = text.replace("'", " ").replace("-", " ")
    draw = rng.random()
    if draw < 0.25:
        text = text.upper()
    elif draw < 0.4:
        text = text.lower()
    typo = False
    if rng.random() < typo_rate:
        candidates = [m for m in _WORD.finditer(text) if len(m.group()) >= 7 and m.start() > 0]
        if candidates:
            m = candidates[int(rng.integers(len(candidates)))]
            word = m.group()
            i = int(rng.integers(1, len(word) - 2))
            if rng.random() < 0.5:
                word = word[:i] + word[i + 1 :]
            else:
                word = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
            text = text[: m.start()] + word + text[m.end() :]
            typo = True
    return text, typo


def _noisy_city(name: str, rng: np.random.Generator) -> str:
    if rng.random() < 0.5:
        name = re.sub(r"\bSaint\b", "St", name)
        name = re.sub(r"\bSainte\b", "Ste", name)
    if rng.random() < 0.5:
        name = unidecode(name)
    if rng.random() < 0.3:
        name = name.upper()
    return name


def drop_rows(table: pd.DataFrame, rows: np.ndarray | list[int]) -> pd.DataFrame:
    """Return ``table`` without ``rows`` (the harder variant: numbers to interpolate)."""
    return table.drop(index=list(rows))


@dataclass
class Evaluation:
    """Figures of one evaluation run.

    Attributes
    ----------
    n
        Queries.
    housenumber_within_50m
        Share of all queries placed at ``housenumber`` quality within 50 m.
    housenumber_share
        Share of queries answered at ``housenumber`` quality.
    wrong_commune
        Share of located queries placed in another commune than the truth.
    wrong_commune_count
        The same, counted.
    quality_mix, status_mix
        Counts by quality and by status.
    median_error_m, p95_error_m
        Error of the located answers, metres.
    per_s
        Addresses geocoded per second.
    elapsed_s
        Time of the geocoding call.
    interpolated
        Answers placed by interpolating the house number.
    interpolated_within_50m
        Share of the interpolated answers within 50 m.
    """

    n: int
    housenumber_within_50m: float
    housenumber_share: float
    wrong_commune: float
    wrong_commune_count: int
    quality_mix: dict[str, int]
    status_mix: dict[str, int]
    median_error_m: float
    p95_error_m: float
    per_s: float
    elapsed_s: float
    interpolated: int = 0
    interpolated_within_50m: float = float("nan")
    errors: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)


def evaluate(geocoder: Geocoder, sample: pd.DataFrame, *, crs: str = "EPSG:2154") -> Evaluation:
    """Geocode a noisy sample and measure accuracy, wrong communes and speed.

    Parameters
    ----------
    geocoder
        Any backend or chain.
    sample
        Output of :func:`noisy_addresses`.
    crs
        Metric CRS the errors are measured in.

    Returns
    -------
    Evaluation
    """
    queries = [AddressQuery(text=t, row_id=str(i)) for i, t in enumerate(sample["text"])]
    start = time.perf_counter()
    results = geocoder.geocode_many(queries)
    elapsed = time.perf_counter() - start
    lon = np.array([r.lon for r in results], dtype=float)
    lat = np.array([r.lat for r in results], dtype=float)
    to_metric = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = to_metric.transform(lon, lat)
    tx, ty = to_metric.transform(
        sample["true_lon"].to_numpy(float), sample["true_lat"].to_numpy(float)
    )
    error = np.hypot(np.asarray(x) - tx, np.asarray(y) - ty)
    quality = np.array([r.quality for r in results], dtype=object)
    located = np.array([r.found for r in results])
    codes = np.array([r.insee_code for r in results], dtype=object)
    wrong = located & (codes != sample["true_insee"].to_numpy(dtype=object))
    housenumber = quality == "housenumber"
    good = housenumber & (error <= 50.0)
    interpolated = np.array([r.extra.get("interpolated") == "1" for r in results])
    n = len(results)
    errors_located = error[located & np.isfinite(error)]
    details = sample.assign(
        quality=quality,
        status=[r.status for r in results],
        insee_code=codes,
        error_m=error,
        label=[r.label for r in results],
        reason=[r.reason for r in results],
    )
    return Evaluation(
        n=n,
        housenumber_within_50m=float(good.sum() / n) if n else float("nan"),
        housenumber_share=float(housenumber.sum() / n) if n else float("nan"),
        wrong_commune=float(wrong.sum() / max(int(located.sum()), 1)),
        wrong_commune_count=int(wrong.sum()),
        quality_mix=dict(Counter(q or "" for q in quality)),
        status_mix=dict(Counter(r.status for r in results)),
        median_error_m=float(np.median(errors_located)) if len(errors_located) else float("nan"),
        p95_error_m=(
            float(np.percentile(errors_located, 95)) if len(errors_located) else float("nan")
        ),
        per_s=n / elapsed if elapsed > 0 else float("inf"),
        elapsed_s=elapsed,
        interpolated=int(interpolated.sum()),
        interpolated_within_50m=(
            float((interpolated & (error <= 50.0)).sum() / interpolated.sum())
            if interpolated.any()
            else float("nan")
        ),
        errors=details[(~good) | wrong],
    )
