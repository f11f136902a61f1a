"""The one parser of a config's ``path:arg`` string, shared by every config in configs/.

A config declares its arguments once, with their defaults (big_vision style)::

    def get_config(arg=None):
      arg = common.parse_arg(arg, dataset="procedural_faces", steps=1000, runlocal=False,
                             choices={"dataset": ("procedural_faces", "ict_faces")})
      ... arg.dataset, arg.steps, arg.runlocal ...

``arg`` is comma-separated: a bool argument is given bare (``runlocal``; also ``runlocal=false``),
every other one as ``key=value`` with the value converted to the default's type (int, float,
str; a tuple takes '+'-separated elements of its elements' type). A type in place of a default
(``int``, ``str``, ``tuple[float]``) declares an argument without one: None when not given.
Anything else, an unknown or repeated argument or a bad value, is an :class:`ArgError`.
"""
from __future__ import annotations

import difflib
import os
import sys
import typing

import ml_collections

_SCALARS = (int, float, str)
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


class ArgError(ValueError):
  """A bad config arg; ``accepted`` maps each argument the config takes to its description."""

  def __init__(self, message: str, accepted: dict):
    super().__init__(message)
    self.accepted = accepted


def config_name(path: str) -> str:
  """``/repo/configs/table2.py`` -> ``configs/table2.py`` (paths outside the repo unchanged)."""
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  relative = os.path.relpath(os.path.abspath(path), repo)
  return path if relative.startswith("..") else relative


def _element_type(default):
  """The type of the elements of a tuple argument (default value or ``tuple[T]``)."""
  if isinstance(default, tuple):
    return type(default[0]) if default else str
  return typing.get_args(default)[0]


def _is_tuple(default) -> bool:
  return isinstance(default, tuple) or typing.get_origin(default) is tuple


def _check_spec(where: str, spec: dict, choices: dict) -> None:
  for name, default in spec.items():
    if isinstance(default, tuple):
      ok = _element_type(default) in _SCALARS and all(
          type(x) is _element_type(default) for x in default)
    elif _is_tuple(default):
      ok = _element_type(default) in _SCALARS
    else:
      ok = isinstance(default, (bool, *_SCALARS)) or default in _SCALARS
    if not ok:
      raise TypeError(f"{where}: parse_arg {name}: expected a default of type bool, int, float, "
                      f"str or a tuple of one of these, or one of these types, got {default!r}")
  for name, names in choices.items():
    if name not in spec or isinstance(spec[name], bool):
      raise TypeError(f"{where}: parse_arg choices: expected names of non-flag arguments "
                      f"{sorted(n for n in spec if not isinstance(spec[n], bool))}, got {name!r}")


def _describe(name, default, names) -> str:
  if isinstance(default, bool):
    return f"{name} (flag)"
  if _is_tuple(default):
    kind = (f"each one of {', '.join(names)}" if names
            else f"each a {_element_type(default).__name__}")
    return f"{name} (joined by '+', {kind})"
  if names:
    return f"{name} (one of {', '.join(names)})"
  if isinstance(default, type):
    return f"{name} ({default.__name__})"
  return f"{name} ({type(default).__name__}, default {default!r})"


def _hint(word: str, names) -> str:
  close = difflib.get_close_matches(word, list(names), n=1, cutoff=0.8)
  return f" (did you mean {close[0]!r}?)" if close else ""


def _convert(text: str, default, names):
  """``text`` as the type of ``default``; a ValueError says what was expected and what came."""
  if isinstance(default, bool):
    if text.lower() in _TRUE + _FALSE:
      return text.lower() in _TRUE
    raise ValueError(f"expected a flag (given bare, or =true / =false), got {text!r}")
  if _is_tuple(default):
    kind = _element_type(default)
    parts = text.split("+")
    if not all(parts):
      raise ValueError(f"expected {kind.__name__}s joined by '+', none empty, got {text!r}")
    return tuple(_convert(part, kind(), names) for part in parts)
  kind = default if isinstance(default, type) else type(default)
  try:
    value = kind(text)
  except ValueError:
    raise ValueError(f"expected {'an' if kind is int else 'a'} {kind.__name__}, "
                     f"got {text!r}") from None
  if names and value not in names:
    raise ValueError(f"expected one of {', '.join(names)}, got {text!r}{_hint(text, names)}")
  return value


def parse_arg(arg: str | None, /, *, choices: dict | None = None,
              **spec) -> ml_collections.ConfigDict:
  """``"dataset=modelnet10,runlocal"`` -> ConfigDict(dataset="modelnet10", runlocal=True, ...).

  spec: each argument's default (or type, see the module docstring); ``choices``: by name, the
  values a str argument (each element of a tuple one) may be given, the default being free to
  differ (e.g. None for "not given"). Errors name the calling config file.
  """
  where = config_name(sys._getframe(1).f_globals.get("__file__", "config"))
  choices = {name: tuple(names) for name, names in (choices or {}).items()}
  _check_spec(where, spec, choices)
  accepted = {name: _describe(name, spec[name], choices.get(name)) for name in sorted(spec)}

  def fail(problem):
    raise ArgError(f"{where}: {problem}; accepted: {', '.join(accepted.values())}", accepted)

  values = {name: (None if isinstance(default, type) or typing.get_origin(default) else default)
            for name, default in spec.items()}
  given = set()
  for item in (arg or "").split(","):
    key, eq, text = (part.strip() for part in item.partition("="))
    if not key and not eq:
      continue
    if key not in spec:
      fail(f"unknown argument {key!r}{_hint(key, spec)}")
    if key in given:
      fail(f"argument {key!r} given twice in {arg!r}")
    given.add(key)
    if not eq and not isinstance(spec[key], bool):
      fail(f"argument {key!r}: expected {key}=VALUE, got it bare")
    try:
      values[key] = _convert(text, spec[key], choices.get(key)) if eq else True
    except ValueError as e:
      fail(f"argument {key!r}: {e}")
  return ml_collections.ConfigDict(values)
