"""Build steps pyproject.toml cannot declare: the optional C kernels and the wheel's geo data.

- ``coverage.routing._kernels`` (``coverage/routing/_kernels.c``) is compiled with
  the system C compiler. It is optional: when it does not compile, the install
  still succeeds and :mod:`coverage.routing.kernels` falls back on scipy.
- ``coverage.routing._hierarchy`` (``coverage/routing/_hierarchy.c``, contraction
  hierarchies) is optional in the same way: without it
  :func:`coverage.routing.hierarchy.hierarchy_available` is false and callers use
  the Dijkstra kernels.
- The repository folder ``data/geo`` is copied to ``coverage/_data/geo`` in the
  wheel (where :func:`coverage.settings.territory_description_dirs` finds it), and
  into the sdist. Editable installs read ``data/geo`` in place.

Metadata, dependencies, entry points and package data are in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

ROOT = Path(__file__).resolve().parent
GEO_SOURCE = "data/geo"
GEO_TARGET = ("coverage", "_data", "geo")


def _geo_files() -> list[Path]:
    base = ROOT / GEO_SOURCE
    return sorted(p for p in base.rglob("*") if p.is_file()) if base.is_dir() else []


class BuildPy(build_py):
    """Also copy ``data/geo`` to ``coverage/_data/geo`` (not in editable mode)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        base = ROOT / GEO_SOURCE
        target = Path(self.build_lib).joinpath(*GEO_TARGET)
        for path in _geo_files():
            dest = target / path.relative_to(base)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)


class BuildExt(build_ext):
    """Optimise for gcc/clang; a failed compilation only warns (the extension is optional)."""

    def build_extensions(self) -> None:
        if self.compiler.compiler_type == "unix":
            for ext in self.extensions:
                ext.extra_compile_args = [*ext.extra_compile_args, "-O3", "-std=c11"]
        super().build_extensions()


class Sdist(sdist):
    """Ship ``data/geo`` in the sdist so that a wheel built from it has the territories."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        for path in _geo_files():
            dest = Path(base_dir) / path.relative_to(ROOT)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)


setup(
    ext_modules=[
        Extension(
            "coverage.routing._kernels",
            sources=["coverage/routing/_kernels.c"],
            depends=["coverage/routing/_buffers.h"],
            optional=True,
        ),
        Extension(
            "coverage.routing._hierarchy",
            sources=["coverage/routing/_hierarchy.c"],
            depends=["coverage/routing/_buffers.h"],
            optional=True,
        ),
    ],
    cmdclass={"build_py": BuildPy, "build_ext": BuildExt, "sdist": Sdist},
)
