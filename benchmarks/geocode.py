"""Benchmark of the ``local`` geocoder on the Gers BANO sample (a script, not a test).

Method (:mod:`coverage.geocode.evaluate`): a seeded sample of BANO address
points is rebuilt as noisy free text (missing accents, upper/lower case, street
types abbreviated, ``St``/``Ste``, one typo in 10 %, the postcode instead of
the commune name or the name without postcode, the street type left out in
5 %) and geocoded; each answer is
compared with the point's true position and commune.

- standard: the index is the whole BANO file (the sampled points are in it);
- harder: the sampled rows are removed from the index, so that their house
  numbers must be interpolated between their neighbours.

Targets: >= 95 % of the queries at ``housenumber`` quality within 50 m, 0 %
in the wrong commune, >= 2 000 addresses/s, index build <= 5 s.

Run: ``.venv/bin/python benchmarks/geocode.py --data ../shared/data``
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from coverage.geocode import AddressIndex, CommuneGeocoder, CommuneIndex, LocalGeocoder
from coverage.geocode.chain import GeocoderChain
from coverage.geocode.evaluate import Evaluation, drop_rows, evaluate, noisy_addresses
from coverage.geocode.normalize import normalise_text, split_street
from coverage.layers import load_territory
from coverage.layers.addresses import read_address_table


def _print(title: str, result: Evaluation) -> None:
    print(f"\n{title}")
    print(f"  queries                         {result.n}")
    print(f"  housenumber quality within 50 m {100 * result.housenumber_within_50m:6.2f} %")
    print(f"  housenumber quality (any error) {100 * result.housenumber_share:6.2f} %")
    print(
        f"  wrong commune                   {100 * result.wrong_commune:6.2f} % "
        f"({result.wrong_commune_count})"
    )
    print(
        f"  median / p95 error              {result.median_error_m:.1f} m / "
        f"{result.p95_error_m:.1f} m"
    )
    mix = ", ".join(f"{q or 'none'} {n}" for q, n in sorted(result.quality_mix.items()))
    print(f"  quality mix                     {mix}")
    status = ", ".join(f"{s} {n}" for s, n in sorted(result.status_mix.items()))
    print(f"  status mix                      {status}")
    if result.interpolated:
        print(
            f"  interpolated                    {result.interpolated} "
            f"({100 * result.interpolated_within_50m:.1f} % within 50 m)"
        )
    print(
        f"  throughput                      {result.per_s:,.0f} addresses/s "
        f"({result.elapsed_s:.2f} s)"
    )


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--n", type=int, default=2000, help="accuracy sample size")
    parser.add_argument("--speed-n", type=int, default=20000, help="throughput sample size")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    territory = load_territory("gers", data_dir=args.data)
    print(f"machine: {os.cpu_count()} cores; the local backend runs in one process")

    builds = []
    for _ in range(3):
        communes = CommuneIndex.from_territory(territory)
        start = time.perf_counter()
        index = AddressIndex.from_territory(territory, communes)
        builds.append(time.perf_counter() - start)
    print(
        f"index build (read + index {index.n_points} points, {index.n_streets} streets, "
        f"{len(index.communes)} communes): median {statistics.median(builds):.2f} s "
        f"(runs {', '.join(f'{b:.2f}' for b in builds)})"
    )
    table = read_address_table(territory.config.layer("addresses"), territory.data_dir)

    sample = noisy_addresses(table, n=args.n, seed=args.seed)
    print("\nexamples of noisy queries:")
    for text in sample["text"].head(6):
        print(f"  {text}")
    local = LocalGeocoder(communes, index)
    _print("standard (index = whole BANO file), local backend", evaluate(local, sample))
    chain = GeocoderChain([local, CommuneGeocoder(communes)])
    _print("standard, chain local -> commune", evaluate(chain, sample))

    reduced_communes = CommuneIndex.from_territory(territory)
    reduced = AddressIndex.from_table(drop_rows(table, sample["row"].to_numpy()), reduced_communes)
    harder = LocalGeocoder(reduced_communes, reduced)
    _print("harder (sampled rows removed from the index: interpolation)", evaluate(harder, sample))

    speed_sample = noisy_addresses(table, n=args.speed_n, seed=args.seed + 1)
    normalise_text.cache_clear()  # no help from the runs above: every text is normalised anew
    split_street.cache_clear()
    speed = evaluate(LocalGeocoder(communes, index), speed_sample)
    _print(f"throughput sample ({len(speed_sample)} queries)", speed)


if __name__ == "__main__":
    main()
