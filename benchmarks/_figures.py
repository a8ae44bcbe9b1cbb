"""Figures of the speed benchmarks: recorded, printed and written as JSON in one layout.

Every benchmark that ``benchmarks/speed.py`` collects writes, with ``--json PATH``::

    {"benchmark": "<script name>", "cores": N, "figures": [
        {"name": ..., "ours": ..., "peer": ..., "peer_name": ..., "unit": ...,
         "ratio": ours / peer, "target": ..., "met": true | false | null}, ...]}

This module owns that layout (:func:`figure`, :class:`Figures`), the ways the
benchmarks print a figure (:func:`objective_line`, :func:`bracketed_line`,
:meth:`Figures.table_lines`) and their timing helpers (:func:`timed`,
:func:`median_seconds`, :func:`median_by_key`).

The benchmarks import it as ``_figures`` (``benchmarks/`` is on ``sys.path`` when a
script of that folder runs).
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Figure = dict[str, Any]
"""One figure in the JSON layout (keys in the order written)."""


def _rounded(value: float, digits: int | None) -> float:
    return value if digits is None else round(value, digits)


def figure(
    name: str,
    ours: float,
    unit: str,
    *,
    peer: float | None = None,
    peer_name: str | None = None,
    target: str = "",
    met: bool | None = None,
    digits: int | None = None,
    ratio_digits: int | None = None,
) -> Figure:
    """One figure in the JSON layout.

    Parameters
    ----------
    name
        Short French label of what is measured.
    ours
        Our figure, in ``unit``.
    unit
        ``"s"``, ``"s CPU"``, ``"ms CPU"``, ``"req/s"``, ``"MiB"``...
    peer, peer_name
        The peer's figure in the same unit and its name; ``peer_name`` is written
        as ``None`` when there is no peer figure.
    target, met
        The target's text and whether it is met (``None``: no target, or not measured).
    digits
        Decimals kept of ``ours`` and ``peer`` (``None``: as measured).
    ratio_digits
        Decimals kept of the ratio, computed from the unrounded figures
        (default ``digits``).

    Returns
    -------
    Figure
        ``name, ours, peer, peer_name, unit, ratio, target, met``; ``ratio`` is
        ``ours / peer``, ``None`` without a (non-zero) peer figure.
    """
    ratio = ours / peer if peer else None
    if ratio is not None:
        ratio = _rounded(ratio, digits if ratio_digits is None else ratio_digits)
    return {
        "name": name,
        "ours": _rounded(ours, digits),
        "peer": None if peer is None else _rounded(peer, digits),
        "peer_name": peer_name if peer is not None else None,
        "unit": unit,
        "ratio": ratio,
        "target": target,
        "met": met,
    }


def verdict(met: bool | None, *, reached: str = "atteint", missed: str = "MANQUÉ") -> str:
    """The word printed for a target: ``reached``, ``missed`` or nothing (``None``)."""
    if met is None:
        return ""
    return reached if met else missed


def objective_line(fig: Figure) -> str:
    """One figure on a line, its peer and the target's verdict when there is a target.

    ``name  ours unit   peer_name peer   rapport r   objectif target : atteint``.
    """
    text = f"{fig['name']:<58} {fig['ours']:10.3f} {fig['unit']}"
    if fig["peer"] is not None:
        text += f"   {fig['peer_name']} {fig['peer']:10.3f}   rapport {fig['ratio']:6.3f}"
    if fig["target"]:
        text += f"   objectif {fig['target']} : {verdict(bool(fig['met']))}"
    return text


def bracketed_line(fig: Figure) -> str:
    """One figure on a line, its peer and, when it is judged, ``[target : verdict]``.

    ``name  nous ours unit  peer_name peer  rapport r  [target : atteint]``.
    """
    text = f"{fig['name']:<58} nous {fig['ours']:8.4f} {fig['unit']}"
    if fig["peer"] is not None:
        text += f"  {fig['peer_name']} {fig['peer']:8.4f}  rapport {fig['ratio']:6.2f}"
    if fig["met"] is not None:
        text += f"  [{fig['target']} : {verdict(fig['met'])}]"
    return text


@dataclass
class Figures:
    """The figures of one benchmark, in the order measured.

    Parameters
    ----------
    benchmark
        The script's name, written as ``"benchmark"`` in the JSON.
    line
        How :meth:`add` prints each figure as it is recorded (``None``: not printed).
    digits, ratio_digits
        Passed to :func:`figure` for every figure.
    """

    benchmark: str
    line: Callable[[Figure], str] | None = None
    digits: int | None = None
    ratio_digits: int | None = None
    figures: list[Figure] = field(default_factory=list)

    def add(
        self,
        name: str,
        ours: float,
        unit: str,
        *,
        peer: float | None = None,
        peer_name: str | None = None,
        target: str = "",
        met: bool | None = None,
    ) -> Figure:
        """Record one figure (see :func:`figure`), print it with ``line``, return it."""
        fig = figure(
            name,
            ours,
            unit,
            peer=peer,
            peer_name=peer_name,
            target=target,
            met=met,
            digits=self.digits,
            ratio_digits=self.ratio_digits,
        )
        self.figures.append(fig)
        if self.line is not None:
            print(self.line(fig), flush=True)
        return fig

    def missed(self) -> list[str]:
        """Names of the figures whose target is missed (``met`` is ``False``)."""
        return [fig["name"] for fig in self.figures if fig["met"] is False]

    def payload(self) -> dict[str, Any]:
        """The JSON document: ``benchmark``, ``cores`` of this machine, ``figures``."""
        return {"benchmark": self.benchmark, "cores": os.cpu_count(), "figures": self.figures}

    def write_json(self, path: Path) -> None:
        """Write :meth:`payload` to ``path`` (UTF-8, indented, accents as they are)."""
        path.write_text(json.dumps(self.payload(), indent=2, ensure_ascii=False), encoding="utf-8")

    def table_lines(self) -> list[str]:
        """The figures as a table under French headers (measure, ours, peer, ratio, unit...)."""
        lines = [f"{'mesure':<48} {'nous':>9} {'pair':>9} {'ratio':>7}  {'unité':<6} cible"]
        for fig in self.figures:
            peer = f"{fig['peer']:.3f}" if fig["peer"] is not None else "—"
            ratio = f"{fig['ratio']:.2f}" if fig["ratio"] is not None else "—"
            judged = verdict(fig["met"], reached="atteinte", missed="MANQUÉE")
            lines.append(
                f"{fig['name']:<48} {fig['ours']:>9.3f} {peer:>9} {ratio:>7}  {fig['unit']:<6} "
                f"{fig['target']} {judged}".rstrip()
            )
        return lines


def timed(func: Callable[[], Any]) -> tuple[float, float, Any]:
    """CPU seconds of this process (all threads), wall seconds and result of one call."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = func()
    return time.process_time() - cpu, time.perf_counter() - wall, result


def median_seconds(
    func: Callable[[], Any], repeat: int, clock: Callable[[], float] = time.process_time
) -> tuple[float, Any]:
    """Median seconds of ``repeat`` calls (a collection before each) and the last result.

    Parameters
    ----------
    func
        The call timed.
    repeat
        How many calls.
    clock
        ``time.process_time`` (CPU seconds of this process, the default) or
        ``time.perf_counter`` (wall seconds).
    """
    times, result = [], None
    for _ in range(repeat):
        gc.collect()
        start = clock()
        result = func()
        times.append(clock() - start)
    return statistics.median(times), result


def median_by_key(results: Sequence[dict[str, float]]) -> dict[str, float]:
    """For each key of the first result, the median of its values over ``results``."""
    return {key: statistics.median(r[key] for r in results) for key in results[0]}
