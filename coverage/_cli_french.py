"""The command line's own chrome in French: help panels, usage line, usage errors, flags.

Typer ships its own copy of click whose strings are plain English (no
gettext), so :func:`install` sets typer's rich help constants and wraps the few
methods that write English ("Usage: ", "Show this message and exit.", the
``<bool>`` shown for flags), and :func:`usage_message` rewrites click's usage
errors ("No such option: --x") in French for :func:`coverage.cli.main`.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import re
import sys
from types import ModuleType
from typing import Any

HELP_TEXT = "Affiche cette aide et quitte."
USAGE_PREFIX = "Utilisation : "

_PANELS = {
    "DEPRECATED_STRING": "(obsolète) ",
    "DEFAULT_STRING": "[par défaut : {}]",
    "ENVVAR_STRING": "[variable d'environnement : {}]",
    "REQUIRED_LONG_STRING": "[obligatoire]",
    "ARGUMENTS_PANEL_TITLE": "Arguments",
    "OPTIONS_PANEL_TITLE": "Options",
    "COMMANDS_PANEL_TITLE": "Commandes",
    "ERRORS_PANEL_TITLE": "Erreur",
    "ABORTED_TEXT": "Interrompu.",
    "RICH_HELP": "Aide : [blue]'{command_path} {help_option}'[/]",
}

_TYPE_LABELS = {
    "<str>": "<texte>",
    "<int>": "<entier>",
    "<float>": "<nombre>",
    "<path>": "<chemin>",
    "<Path>": "<chemin>",
    "<file>": "<fichier>",
    "<directory>": "<dossier>",
    "<int range>": "<entier>",
    "<float range>": "<nombre>",
    "<list[str]>": "<texte>…",
    "<list[int]>": "<entier>…",
    "<list[float]>": "<nombre>…",
    "<list[Path]>": "<chemin>…",
}

_installed = False


def _french_type(label: str | None) -> str | None:
    if label is None:
        return None
    return _TYPE_LABELS.get(label, label)


def install() -> None:
    """Put the help chrome in French (idempotent; call before the app runs).

    typer's help panels live in ``typer.rich_utils``, which loads rich's markdown
    and traceback modules (about 0.1 s): it is configured when typer first imports
    it (help, errors), so that a command that shows neither never loads it.
    """
    global _installed
    if _installed:
        return
    _installed = True
    from typer import core
    from typer._click import core as click_core
    from typer._click import formatting

    if RICH_UTILS in sys.modules:
        _french_panels(sys.modules[RICH_UTILS])
    else:
        sys.meta_path.insert(0, _PanelsOnImport())

    get_help_option = click_core.Command.get_help_option

    def french_help_option(self: Any, ctx: Any) -> Any:
        option = get_help_option(self, ctx)
        if option is not None:
            option.help = HELP_TEXT
        return option

    click_core.Command.get_help_option = french_help_option  # type: ignore[method-assign]

    display_type_rich = core.TyperOption.display_type_rich

    def french_display_type(self: Any, ctx: Any) -> str | None:
        if getattr(self, "is_flag", False):
            return None  # a flag takes no value: show "--no-map", not "--no-map <bool>"
        return _french_type(display_type_rich(self, ctx))

    core.TyperOption.display_type_rich = french_display_type  # type: ignore[method-assign]

    argument_display = core.TyperArgument.display_type_rich

    def french_argument_type(self: Any, ctx: Any) -> str | None:
        return _french_type(argument_display(self, ctx))

    core.TyperArgument.display_type_rich = french_argument_type  # type: ignore[method-assign]

    write_usage = formatting.HelpFormatter.write_usage

    def french_usage(self: Any, prog: str, args: str = "", prefix: str | None = None) -> None:
        args = args.replace("COMMAND [ARGS]...", "COMMANDE [ARGUMENTS]...")
        write_usage(self, prog, args, USAGE_PREFIX if prefix is None else prefix)

    formatting.HelpFormatter.write_usage = french_usage  # type: ignore[method-assign]


RICH_UTILS = "typer.rich_utils"


def _french_panels(rich_utils: ModuleType) -> None:
    """The French panel titles and the French usage highlight, in typer's rich module."""
    for name, value in _PANELS.items():
        setattr(rich_utils, name, value)
    rich_utils.highlighter.highlights = [
        r"(?P<usage>Utilisation : )" if "usage" in h else h
        for h in rich_utils.highlighter.highlights
    ]


class _PanelsOnImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the loading of ``typer.rich_utils`` to configure it."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != RICH_UTILS:
            return None
        sys.meta_path.remove(self)  # once, and the other finders find the module
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def configured(module: ModuleType) -> None:
            exec_module(module)
            _french_panels(module)

        spec.loader.exec_module = configured  # type: ignore[method-assign]
        return spec


_PYDANTIC = (
    (r"Input should be a valid integer.*", "un nombre entier est attendu"),
    (r"Input should be a valid number.*", "un nombre est attendu"),
    (r"Input should be a valid boolean.*", "oui/non attendu (true, false)"),
    (r"Input should be (.*)", r"valeur attendue : \1"),
    (r"Path '(.*)' does not exist\.?", r"le chemin « \1 » n'existe pas"),
    (r"(.*) is not one of (.*?)\.?$", r"\1 ne fait pas partie des valeurs possibles : \2"),
    (r"Value (.*) is not a valid (.*?)\.?$", r"valeur \1 non valable (\2 attendu)"),
)

_MESSAGES = (
    (
        r"No such option: (\S+) \(Possible options: (.*)\)",
        r"option inconnue : \1 (voulez-vous dire \2 ?)",
    ),
    (r"No such option: (\S+)", r"option inconnue : \1"),
    (
        r"No such command '(.*)'\.? Did you mean (.*)\?",
        r"commande inconnue : « \1 » (voulez-vous dire \2 ?)",
    ),
    (r"No such command '(.*)'\.?", r"commande inconnue : « \1 »"),
    (r"Missing command\.?", "commande manquante"),
    (r"Missing argument '(.*)'\.?", r"argument manquant : \1"),
    (r"Missing option '(.*)'\.?", r"option manquante : \1"),
    (r"Missing parameter: (.*)", r"paramètre manquant : \1"),
    (r"Option '(.*)' requires an argument\.", r"l'option \1 attend une valeur"),
    (r"Option '(.*)' requires (\d+) arguments\.", r"l'option \1 attend \2 valeurs"),
    (
        r"Option '(.*)' does not take a value\.",
        r"l'option \1 ne prend pas de valeur (c'est un interrupteur)",
    ),
    (r"Got unexpected extra argument(?:s|\(s\))? \((.*)\)", r"argument(s) en trop : \1"),
)


def _translate(text: str, table: tuple[tuple[str, str], ...]) -> str:
    for pattern, french in table:
        if re.fullmatch(pattern, text, flags=re.S):
            return re.sub(pattern, french, text, count=1, flags=re.S)
    return text


def usage_message(exc: Any) -> str:
    """One French line for a click usage error (an unknown option, a bad value...)."""
    from typer._click.exceptions import BadParameter, MissingParameter

    if isinstance(exc, BadParameter) and not isinstance(exc, MissingParameter):
        hint = exc.param_hint if exc.param_hint is not None else None
        if hint is None and exc.param is not None:
            hint = exc.param.get_error_hint()
        detail = _translate(str(exc.message), _PYDANTIC)
        if hint:
            names = hint if isinstance(hint, str) else " / ".join(map(str, hint))
            return f"valeur non valable pour {names} : {detail}"
        return f"valeur non valable : {detail}"
    text = _translate(exc.format_message(), _MESSAGES)
    return text.replace("Did you mean", "voulez-vous dire").replace("Possible options", "options")


def usage_hint(exc: Any) -> str | None:
    """``Aide : coverage place --help`` for the command where the usage error happened."""
    ctx = getattr(exc, "ctx", None)
    if ctx is None or ctx.command.get_help_option(ctx) is None:
        return None
    return f"{ctx.command_path} {ctx.help_option_names[0]}"
