"""Compiled jinja templates kept on disk, so that a new process does not compile folium's again.

folium and branca define their templates as ``jinja2.Template(source)`` class
attributes: importing them compiles 58 templates (jinja's parser and code
generator, about 0.3 s of every process that writes a map). :func:`install`
wraps :meth:`jinja2.Environment.compile` so that the Python code object of a
template compiled from a string is kept under ``<cache>/templates/`` and read
back next time, as jinja's own ``BytecodeCache`` does for templates from a
loader. The key holds everything the generated code depends on: the source,
name, filename, ``defer_init``, the environment's syntax options, jinja's
version and the Python bytecode tag. Environments with options that have no
stable key (an ``autoescape`` or ``finalize`` function, extensions, a subclass
that changes a compilation step, another code generator) are compiled as
before, never cached.

Like Python's own ``__pycache__``, the folder holds code that is run: it is the
user's cache directory (``COVERAGE_CACHE_DIR``), not shared input.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
from pathlib import Path
from types import CodeType
from typing import Any

import jinja2
from jinja2.compiler import CodeGenerator

from coverage._cache import atomic_path
from coverage.settings import cache_root

FOLDER = "templates"
"""Sub-folder of the cache directory holding the code objects."""

_SYNTAX = (
    "block_start_string",
    "block_end_string",
    "variable_start_string",
    "variable_end_string",
    "comment_start_string",
    "comment_end_string",
    "line_statement_prefix",
    "line_comment_prefix",
    "trim_blocks",
    "lstrip_blocks",
    "newline_sequence",
    "keep_trailing_newline",
    "optimized",
    "autoescape",
    "is_async",
)
"""Environment options the generated code depends on (all plain values)."""
_STEPS = ("_parse", "_generate", "_compile", "_tokenize", "preprocess", "lex", "parse", "lexer")
"""Compilation steps a keyed environment must inherit unchanged from jinja2's (folium's
subclass only adds a filter, which the generated code looks up when it runs)."""

_original_compile = jinja2.Environment.compile
_installed = False


def cache_key(
    env: jinja2.Environment, source: str, name: str | None, filename: str | None, defer_init: bool
) -> str | None:
    """The file name of a template's code, or None when the environment cannot be keyed."""
    kind = type(env)
    if (
        any(getattr(kind, step) is not getattr(jinja2.Environment, step) for step in _STEPS)
        or env.code_generator_class is not CodeGenerator
        or env.extensions
        or env.finalize is not None
        or not isinstance(env.autoescape, bool)
    ):
        return None
    key = repr(
        (
            jinja2.__version__,
            sys.implementation.cache_tag,
            f"{kind.__module__}.{kind.__qualname__}",
            tuple(getattr(env, option) for option in _SYNTAX),
            name,
            filename,
            defer_init,
            source,
        )
    )
    return hashlib.blake2b(key.encode("utf-8"), digest_size=20).hexdigest() + ".marshal"


def _read(path: Path) -> CodeType | None:
    try:
        code = marshal.loads(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    return code if isinstance(code, CodeType) else None


def _write(path: Path, code: CodeType) -> None:
    try:
        tmp = atomic_path(path)
        tmp.write_bytes(marshal.dumps(code))
        os.replace(tmp, path)
    except OSError:  # a read-only cache only costs the compilation
        pass


def _cached_compile(
    self: jinja2.Environment,
    source: Any,
    name: str | None = None,
    filename: str | None = None,
    raw: bool = False,
    defer_init: bool = False,
) -> Any:
    key = None
    if not raw and isinstance(source, str):
        key = cache_key(self, source, name, filename, defer_init)
    if key is None:
        return _original_compile(self, source, name, filename, raw, defer_init)
    path = cache_root() / FOLDER / key
    code = _read(path)
    if code is None:
        code = _original_compile(self, source, name, filename, raw, defer_init)
        if isinstance(code, CodeType):
            _write(path, code)
    return code


def install() -> None:
    """Keep compiled templates on disk from now on (idempotent; before folium is imported)."""
    global _installed
    if not _installed:
        jinja2.Environment.compile = _cached_compile  # type: ignore[method-assign,assignment]
        _installed = True
