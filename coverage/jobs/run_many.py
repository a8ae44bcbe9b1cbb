"""Many runs in one command: several territories (a région), several scenario files, or both.

:func:`plan_jobs` turns scenario files and territory names into jobs (one
scenario on one territory each); :func:`run_many` runs them, each with
:func:`coverage.jobs.run.run_scenario`, either one after the other in this
process or as **one Dask task per job** on a cluster (``client``, see
:mod:`coverage.cluster`), and writes::

    <output>/
      <job>/                 the complete result folder of each job (as `coverage run`)
      summary.json           every job, its status, and the merged figures
      tables/
        runs_<analysis>.csv        one line per job (the job's département-level figures),
                                   plus « ensemble » when the jobs are distinct territories
        communes_<analysis>.csv    the communes of every territory, with its name first
        cantons_<analysis>.csv     the same figures per canton, EPCI, over every territory
        epci_<analysis>.csv
        underserved_<analysis>.csv the communes beyond the threshold, ranked over every
                                   territory (same rule as a single run)

The merged commune, canton, EPCI and underserved tables are written when the
jobs are distinct territories measured with the same analysis and thresholds
(a région); a sweep of scenario files on one territory gets the ``runs`` table
only (adding its rows would count the same people twice).

Each job is a pure task: it reads its bundle, writes its own folder (under a
staging name, renamed at the end) and returns its figures; a job lost with its
worker is run again (``retries``) and gives the same folder. A job that fails
(a scenario mistake, a missing bundle) does not stop the others: its line in
``summary.json`` and in the terminal says what happened.

With a remote scheduler (``tcp://``), the workers must see the data, the
scenario files and the output folder at the same paths (a shared file system).
"""

from __future__ import annotations

import os
import re
import socket
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from coverage import __version__
from coverage._outdir import refuse_existing, sweep_staging
from coverage.access import aggregate_communes
from coverage.errors import ConfigError, CoverageError
from coverage.jsonio import write_json
from coverage.progress import Progress, silent
from coverage.results import SUMMARY_FILE, TABLES_DIR, table_stem
from coverage.scenario import Scenario
from coverage.tables import public_columns, use_style, write_table

TERRITORY_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
"""A territory name a job may carry: it names a data folder and a result folder."""

RUN_STEP = "Calculs"
"""Progress label of the jobs (``done`` of ``total`` jobs finished)."""

TOTAL_ROW = "ensemble"
"""Name of the line that adds up every territory in ``runs_<analysis>.csv``."""


@dataclass(frozen=True)
class RunJob:
    """One scenario on one territory.

    Attributes
    ----------
    name
        Folder name of its result under the output (territory, scenario, or both).
    scenario
        The scenario, its ``territory`` set to the job's territory.
    """

    name: str
    scenario: Scenario


@dataclass
class JobOutcome:
    """What one job gave.

    Attributes
    ----------
    name, territory, scenario
        The job.
    status
        ``"ok"`` or ``"erreur"``.
    message
        The error (French) when the job failed, else ``""``.
    output_dir
        Its result folder.
    summary
        Its ``summary.json`` (``None`` when it failed).
    tables
        Per analysis: ``{"communes": frame, "underserved": frame}`` (the tables the
        run wrote, in machine form).
    warnings
        Warning texts raised during the job.
    seconds
        Wall time of the job.
    worker
        Host and process that ran it.
    reused_resources
        Whether its territory was already loaded by that process (a previous job).
    """

    name: str
    territory: str
    scenario: str
    status: str
    message: str
    output_dir: str
    summary: dict[str, Any] | None = None
    tables: dict[str, dict[str, pd.DataFrame]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    worker: str = ""
    reused_resources: bool = False


@dataclass(eq=False)
class ManyResult:
    """A finished :func:`run_many`.

    Attributes
    ----------
    output_dir
        The parent folder.
    summary
        The content of its ``summary.json``.
    outcomes
        One per job, in the order of the jobs.
    """

    output_dir: Path
    summary: dict[str, Any]
    outcomes: list[JobOutcome]

    @property
    def failed(self) -> list[JobOutcome]:
        """The jobs that did not finish."""
        return [o for o in self.outcomes if o.status != "ok"]


def plan_jobs(scenarios: Sequence[Scenario], territories: Sequence[str] = ()) -> list[RunJob]:
    """The jobs of ``coverage run A.toml B.toml --territory X,Y``: each scenario on each territory.

    Without territories each scenario runs on its own territory. A job is named
    after its territory when there is one scenario, after its scenario when there
    is one territory, ``<scenario>-<territory>`` otherwise.

    Raises
    ------
    ConfigError
        No scenario, or two jobs with the same name (the same scenario or
        territory given twice).
    """
    if not scenarios:
        raise ConfigError("aucun scénario à lancer")
    pairs = (
        [(s, t) for s in scenarios for t in territories]
        if territories
        else [(s, s.territory) for s in scenarios]
    )
    for _scenario, territory in pairs:
        if not TERRITORY_NAME.match(territory):
            raise ConfigError(
                f"--territory : « {territory} » n'est pas un nom de territoire (minuscules, "
                "chiffres, « - » et « _ », 64 caractères au plus, comme gers ou haute-garonne)"
            )
    single_scenario = len(scenarios) == 1
    single_territory = len({t for _, t in pairs}) == 1
    jobs: list[RunJob] = []
    seen: dict[str, RunJob] = {}
    for scenario, territory in pairs:
        if single_scenario and not single_territory:
            name = territory
        elif single_territory and not single_scenario:
            name = scenario.name
        else:
            name = f"{scenario.name}-{territory}"
        if name in seen:
            raise ConfigError(
                f"deux calculs portent le nom '{name}' (scénario ou territoire donné deux fois) ; "
                "chaque calcul écrit son propre dossier"
            )
        job = RunJob(name=name, scenario=replace(scenario, territory=territory))
        seen[name] = job
        jobs.append(job)
    return jobs


_LOADED: dict[str, Any] = {}
"""The last territory this process loaded for a job: its data's state and its resources."""


def _bundle_state(scenario: Scenario, data_dir: str | None) -> str:
    """What the loaded resources depend on: territory, settings and the bundle's files' dates."""
    from coverage.settings import resolve_data_dir

    bundle, _origin = resolve_data_dir(scenario.territory, data_dir)
    files = []
    if bundle.is_dir():
        for path in sorted(bundle.iterdir()):
            if path.is_file():
                stat = path.stat()
                files.append(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return "|".join([scenario.territory, str(bundle), *files])


def _resources(scenario: Scenario, data_dir: str | None) -> tuple[Any, bool]:
    """The resources of a job's scenario and whether they were already loaded by this process.

    A worker running several jobs on one territory (a sweep of scenario files)
    loads it once: the resources are kept while the scenario's territory,
    settings and the bundle's files (sizes and dates) stay the same.
    """
    from coverage.jobs.resources import TerritoryResources

    state = _bundle_state(scenario, data_dir)
    kept = _LOADED.get("resources")
    if kept is not None and _LOADED.get("state") == state and kept.matches(scenario):
        return kept, True
    _LOADED.clear()
    resources = TerritoryResources.for_scenario(scenario, data_dir=data_dir)
    _LOADED.update(state=state, resources=resources)
    return resources, False


def run_job(
    job: RunJob,
    output_root: str,
    data_dir: str | None,
    csv_style: str | None,
) -> JobOutcome:
    """One job (a task): run its scenario into ``<output_root>/<job.name>``, return its figures.

    Never raises for a mistake in the job's data or scenario: the outcome says
    what happened. The folder is replaced if it exists (the caller checked the
    output before starting; a retried task rewrites its own folder). The
    territory is loaded once per process for consecutive jobs on it
    (:func:`_resources`).
    """
    from coverage.jobs.run import run_scenario

    started = time.perf_counter()
    out = Path(output_root) / job.name
    outcome = JobOutcome(
        name=job.name,
        territory=job.scenario.territory,
        scenario=job.scenario.name,
        status="ok",
        message="",
        output_dir=str(out),
        worker=f"{socket.gethostname()}:{os.getpid()}",
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            resources, outcome.reused_resources = _resources(job.scenario, data_dir)
            with use_style(csv_style):
                result = run_scenario(
                    job.scenario,
                    output_dir=out,
                    overwrite=True,
                    data_dir=data_dir,
                    resources=resources,
                )
        except CoverageError as exc:
            outcome.status, outcome.message = "erreur", str(exc)
        else:
            outcome.summary = result.summary
            outcome.tables = {
                name: {"communes": access.communes.copy(), "underserved": access.underserved()}
                for name, access in result.analyses.items()
            }
    outcome.warnings = [str(w.message) for w in caught]
    outcome.seconds = time.perf_counter() - started
    return outcome


def run_many(
    jobs: Sequence[RunJob],
    *,
    output_dir: str | Path,
    overwrite: bool = False,
    data_dir: str | Path | None = None,
    client: Any | None = None,
    csv_style: str | None = None,
    progress: Progress | None = None,
    retries: int = 3,
) -> ManyResult:
    """Run every job and write the merged summary and tables (see the module docstring).

    Parameters
    ----------
    jobs
        From :func:`plan_jobs`.
    output_dir
        Parent folder of the job folders, summary and merged tables.
    overwrite
        Replace an existing output folder's content.
    data_dir
        Data folder (``--data``): a parent holding one bundle per territory.
    client
        A ``distributed.Client``: one task per job on its cluster. ``None``: the
        jobs run one after the other in this process.
    csv_style
        ``fr`` or ``machine`` (``--csv``); default as for a single run.
    progress
        Told ``(RUN_STEP, done=k, total=n)`` as jobs finish.
    retries
        Times a task is run again when its worker is lost.

    Returns
    -------
    ManyResult

    Raises
    ------
    coverage.errors.OutputExistsError
        If ``output_dir`` exists and ``overwrite`` is false.
    """
    output = Path(output_dir)
    refuse_existing(output, overwrite=overwrite)
    _clear_previous(output)
    output.mkdir(parents=True, exist_ok=True)
    say = progress or silent
    started = time.perf_counter()
    data = None if data_dir is None else str(Path(data_dir).resolve())
    root = str(output.resolve())
    if client is None:
        outcomes = []
        say(RUN_STEP, done=0, total=len(jobs))
        for done, job in enumerate(jobs, start=1):
            outcomes.append(run_job(job, root, data, csv_style))
            say(RUN_STEP, done=done, total=len(jobs))
    else:
        from coverage.cluster import gather_with_progress

        futures = [
            client.submit(
                run_job,
                job,
                root,
                data,
                csv_style,
                key=f"coverage-run-{job.name}-{time.time_ns()}",
                retries=retries,
                pure=False,
            )
            for job in jobs
        ]
        outcomes = gather_with_progress(client, futures, step=RUN_STEP, progress=say)
        sweep_staging(output)  # what a worker lost mid-job left (its job was run again)
    with use_style(csv_style):
        files = write_merged_tables(output / TABLES_DIR, outcomes)
    summary = merged_summary(outcomes, files, time.perf_counter() - started, client)
    write_json(output / SUMMARY_FILE, summary)
    return ManyResult(output_dir=output, summary=summary, outcomes=list(outcomes))


def _clear_previous(output: Path) -> None:
    """Remove the previous result replaced by ``--overwrite`` (never a folder that is not one).

    Raises
    ------
    coverage.errors.OutputExistsError
        ``output`` holds files but no ``summary.json``: it is not a result folder.
    """
    import shutil

    from coverage.errors import OutputExistsError

    if not output.is_dir() or not any(output.iterdir()):
        return
    if not (output / SUMMARY_FILE).is_file():
        raise OutputExistsError(
            f"le dossier {output} existe et n'est pas un dossier de résultats (pas de "
            f"{SUMMARY_FILE}) : --overwrite ne le remplace pas ; choisissez-en un autre"
        )
    shutil.rmtree(output)


def _done(outcomes: Sequence[JobOutcome]) -> list[JobOutcome]:
    return [o for o in outcomes if o.status == "ok" and o.summary is not None]


def _mergeable(outcomes: Sequence[JobOutcome]) -> bool:
    """Distinct territories measured with the same analyses and thresholds."""
    done = _done(outcomes)
    if len(done) < 1 or len({o.territory for o in done}) != len(done):
        return False
    shapes = {
        tuple(
            (name, tuple(figures["thresholds"]), (figures.get("public") or {}).get("name"))
            for name, figures in o.summary["analyses"].items()  # type: ignore[index]
        )
        for o in done
    }
    return len(shapes) == 1


def _thresholds(outcome: JobOutcome, analysis: str) -> list[float]:
    figures = outcome.summary["analyses"][analysis]  # type: ignore[index]
    return [float(t["minutes"]) for t in figures["thresholds"].values()]


def _headers(outcome: JobOutcome, analysis: str, table: pd.DataFrame) -> Any:
    public = outcome.summary["analyses"][analysis].get("public")  # type: ignore[index]
    return None if public is None else public_columns(public["label"], table.columns)


def write_merged_tables(folder: Path, outcomes: Sequence[JobOutcome]) -> dict[str, str]:
    """Write ``tables/`` of a many-job run (see the module docstring); return the files by stem."""
    done = _done(outcomes)
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    analyses = sorted({name for o in done for name in o.tables})
    mergeable = _mergeable(outcomes)
    for analysis in analyses:
        having = [o for o in done if analysis in o.tables]
        thresholds = _thresholds(having[0], analysis)
        rows = []
        for o in having:
            frame = o.tables[analysis]["communes"].assign(job=o.name, scenario=o.scenario)
            rows.append(aggregate_communes(frame, ["job", "scenario"], _thresholds(o, analysis)))
        runs = pd.concat(rows, ignore_index=True, sort=False)
        communes = None
        if mergeable:
            communes = pd.concat(
                [o.tables[analysis]["communes"].assign(territory=o.territory) for o in having],
                ignore_index=True,
            )
            communes = communes[["territory", *[c for c in communes.columns if c != "territory"]]]
            total = aggregate_communes(
                communes.assign(job=TOTAL_ROW, scenario=having[0].scenario),
                ["job", "scenario"],
                thresholds,
            )
            runs = pd.concat([runs, total], ignore_index=True)
        headers = _headers(having[0], analysis, runs)
        files[table_stem("runs", analysis)] = _write(folder, "runs", analysis, runs, headers)
        if communes is None:
            continue
        tables = {
            "communes": communes,
            "cantons": aggregate_communes(communes, ["canton_code", "canton_name"], thresholds),
            "epci": aggregate_communes(communes, ["epci_siren", "epci_name"], thresholds),
            "underserved": _merged_underserved(having, analysis),
        }
        for kind, table in tables.items():
            headers = _headers(having[0], analysis, table)
            files[table_stem(kind, analysis)] = _write(folder, kind, analysis, table, headers)
    return files


def _write(folder: Path, kind: str, analysis: str, table: pd.DataFrame, headers: Any) -> str:
    name = f"{table_stem(kind, analysis)}.csv"
    write_table(table, folder / name, columns=headers)
    return f"{TABLES_DIR}/{name}"


def _merged_underserved(outcomes: Sequence[JobOutcome], analysis: str) -> pd.DataFrame:
    """Every territory's underserved communes, ranked together when they share the threshold.

    Each territory ranks its communes by excess person-minutes beyond the threshold it
    used; when every territory used the same one the merged list is ranked again by
    the same rule over all of them, otherwise it keeps each territory's ranks, by
    territory.
    """
    frames = [o.tables[analysis]["underserved"].assign(territory=o.territory) for o in outcomes]
    merged = pd.concat(frames, ignore_index=True)
    merged = merged[["territory", *[c for c in merged.columns if c != "territory"]]]
    if merged.empty or merged["threshold_minutes"].nunique() != 1:
        return merged
    key = f"{merged['threshold_minutes'].iloc[0]:g}".replace(".", "_")
    merged = merged.sort_values(
        ["excess_person_minutes", f"pop_beyond_{key}"], ascending=False, kind="stable"
    ).reset_index(drop=True)
    merged["rank"] = range(1, len(merged) + 1)
    return merged


def merged_summary(
    outcomes: Sequence[JobOutcome], files: dict[str, str], seconds: float, client: Any | None
) -> dict[str, Any]:
    """The parent ``summary.json``: every job and, for distinct territories, the totals."""
    jobs = []
    for o in outcomes:
        entry: dict[str, Any] = {
            "name": o.name,
            "territory": o.territory,
            "scenario": o.scenario,
            "status": o.status,
            "message": o.message,
            "output_dir": Path(o.output_dir).name,
            "seconds": round(o.seconds, 3),
            "worker": o.worker,
            "reused_resources": o.reused_resources,
            "warnings": len(o.warnings),
        }
        if o.summary is not None:
            entry["territory_label"] = o.summary["territory"]["label"]
            entry["departement"] = o.summary["territory"]["departement"]
            entry["population"] = o.summary["territory"]["population"]
            entry["headline"] = o.summary["headline"]
        jobs.append(entry)
    out: dict[str, Any] = {
        "engine": {"name": "coverage-territoires", "version": __version__},
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "kind": "runs",
        "jobs": jobs,
        "jobs_ok": sum(1 for o in outcomes if o.status == "ok"),
        "jobs_failed": sum(1 for o in outcomes if o.status != "ok"),
        "cluster": _cluster_record(client),
        "merged": _mergeable(outcomes),
        "analyses": {},
        "files": dict(files),
        "timings_s": {"total_s": round(seconds, 3)},
    }
    if out["merged"]:
        done = _done(outcomes)
        for analysis in done[0].tables:
            communes = pd.concat([o.tables[analysis]["communes"] for o in done], ignore_index=True)
            total = aggregate_communes(
                communes.assign(all=TOTAL_ROW), ["all"], _thresholds(done[0], analysis)
            ).iloc[0]
            figures = done[0].summary["analyses"][analysis]  # type: ignore[index]
            out["analyses"][analysis] = {
                "label": figures["label"],
                "public": figures.get("public"),
                "territories": len(done),
                "population": int(total["population"]),
                "minutes_mean": None
                if pd.isna(total["minutes_mean"])
                else float(total["minutes_mean"]),
                "pop_unreachable": int(total["pop_unreachable"]),
                "thresholds": {
                    key: {
                        "minutes": t["minutes"],
                        "pop_beyond": int(total[f"pop_beyond_{key}"]),
                        "share_beyond": float(total[f"share_beyond_{key}"]),
                    }
                    for key, t in figures["thresholds"].items()
                },
            }
    return out


def _cluster_record(client: Any | None) -> dict[str, Any]:
    if client is None:
        return {"kind": "process"}
    try:
        workers = len(client.scheduler_info().get("workers", {}))
    except Exception:  # the record is informative only
        workers = None
    return {
        "kind": "dask",
        "scheduler": str(getattr(client.scheduler, "address", "")),
        "workers": workers,
    }
