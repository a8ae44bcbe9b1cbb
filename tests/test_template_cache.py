"""Compiled jinja templates kept on disk (maps._template_cache)."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

import maps  # noqa: F401  (installs the cache)
from maps import _template_cache

SOURCE = "{% for x in items %}<b>{{ x | upper }}</b>{% endfor %}{{ tail }}"


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COVERAGE_CACHE_DIR", str(tmp_path))
    return tmp_path / _template_cache.FOLDER


def test_installed_before_folium_compiles() -> None:
    assert jinja2.Environment.compile is _template_cache._cached_compile


def test_a_template_is_compiled_once_then_read_back(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = jinja2.Template(SOURCE).render(items=["a", "<é>"], tail="!")
    assert first == "<b>A</b><b><É></b>!"
    assert len(list(cache_dir.iterdir())) == 1

    def no_compiling(*args: object) -> None:
        raise AssertionError("compiled again instead of read from the cache")

    monkeypatch.setattr(_template_cache, "_original_compile", no_compiling)
    again = jinja2.Environment().from_string(SOURCE).render(items=["a", "<é>"], tail="!")
    assert again == first


def test_the_cached_code_renders_as_jinja_does(cache_dir: Path) -> None:
    """folium's environment (a subclass adding a filter) is cached, and renders the same."""
    import folium.template

    source = "{{ values | tojavascript }} {{ name }}"
    values = {"a_b": [1, "x<y"]}
    uncached = folium.template.Environment()
    code = _template_cache._original_compile(uncached, source)
    expected = jinja2.Template.from_code(uncached, code, uncached.make_globals(None), None)
    got = folium.template.Template(source)
    assert got.render(values=values, name="n") == expected.render(values=values, name="n")
    key = _template_cache.cache_key(uncached, source, None, None, False)
    assert key is not None and (cache_dir / key).is_file()


def test_options_that_change_the_code_change_the_key(cache_dir: Path) -> None:
    plain = jinja2.Environment()
    assert _template_cache.cache_key(plain, SOURCE, None, None, False) != (
        _template_cache.cache_key(jinja2.Environment(trim_blocks=True), SOURCE, None, None, False)
    )
    assert _template_cache.cache_key(plain, SOURCE, None, None, False) != (
        _template_cache.cache_key(plain, SOURCE, "name", None, False)
    )
    assert _template_cache.cache_key(plain, SOURCE, None, None, False) != (
        _template_cache.cache_key(plain, SOURCE + " ", None, None, False)
    )
    assert _template_cache.cache_key(plain, SOURCE, None, None, False) != (
        _template_cache.cache_key(jinja2.Environment(autoescape=True), SOURCE, None, None, False)
    )


def test_environments_without_a_stable_key_are_not_cached(cache_dir: Path) -> None:
    guessed = jinja2.Environment(autoescape=jinja2.select_autoescape())
    assert _template_cache.cache_key(guessed, SOURCE, None, None, False) is None
    finalized = jinja2.Environment(finalize=lambda v: "" if v is None else v)
    assert _template_cache.cache_key(finalized, SOURCE, None, None, False) is None
    extended = jinja2.Environment(extensions=["jinja2.ext.loopcontrols"])
    assert _template_cache.cache_key(extended, SOURCE, None, None, False) is None

    class OwnLexer(jinja2.Environment):
        def _tokenize(self, *args, **kwargs):
            return super()._tokenize(*args, **kwargs)

    assert _template_cache.cache_key(OwnLexer(), SOURCE, None, None, False) is None
    assert guessed.from_string("{{ x }}").render(x="<a>") == "&lt;a&gt;"
    assert not cache_dir.exists()


def test_a_damaged_file_is_compiled_again(cache_dir: Path) -> None:
    key = _template_cache.cache_key(jinja2.Environment(), SOURCE, None, None, False)
    cache_dir.mkdir(parents=True)
    (cache_dir / key).write_bytes(b"not marshal data")
    assert jinja2.Template(SOURCE).render(items=["z"], tail="") == "<b>Z</b>"
    assert (cache_dir / key).read_bytes() != b"not marshal data"


def test_syntax_errors_are_still_raised(cache_dir: Path) -> None:
    with pytest.raises(jinja2.TemplateSyntaxError):
        jinja2.Template("{% for x in %}")
    assert not cache_dir.exists()
