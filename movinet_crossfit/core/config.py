"""Training configurations: pydantic models, read from YAML, overridden by options, written back.

Every training command (``train``, ``train-counter``, ``train-poses``) has one ``TrainingConfig``
subclass and reads it the same way: ``load_config(Config, path, overrides)`` reads the YAML file,
lays the options given on the command line over it (``None`` means "not given") and validates the
result. Mistakes come back as one ``UserError`` line naming the file, the key and the fix: a
missing file, a YAML syntax error (with its line), an unknown key (with the valid ones), a value of
the wrong type (with the type expected).

A run's ``config.yaml`` (``config_to_yaml(config, relative_to=run_dir)``) writes the config's
``path_fields`` relative to the run folder and records that folder under ``paths_relative_to``, so a
run moved with its records still finds them; ``load_config`` reads such a file's paths back
relative to the file.

Values are converted where that is unambiguous (pydantic's lax mode): YAML 1.1 reads ``1e-3`` as the
*string* "1e-3", which a float field takes as 0.001; "10" fills an int field, 3.0 too, 3.5 does not.
"""
from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, Mapping, Optional, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from movinet_crossfit.core.errors import UserError

C = TypeVar("C", bound="TrainingConfig")
# In a run's config.yaml: the run folder (absolute) its path fields were written relative to.
RELATIVE_TO_KEY = "paths_relative_to"

_UNKNOWN_KEY = ("extra_forbidden", "unexpected_keyword_argument")
_TYPE_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string", list: "a list",
               dict: "a mapping"}


class ConfigError(UserError):
    """Options that do not validate; ``errors`` are pydantic's, for a caller to name the file."""

    def __init__(self, message: str, errors: list):
        super().__init__(message)
        self.errors = errors


class TrainingConfig(BaseModel):
    """A training command's options: unknown keys are errors, and so are values of the wrong type,
    whether the config is read from a file or built in code."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())
    # The command, to name the options in errors ("unknown train-poses option 'epoch'").
    command: ClassVar[str] = "training"
    # Keys a run adds to the config.yaml it writes; dropped when that file is read back as a config.
    run_only: ClassVar[tuple[str, ...]] = ()
    # Fields naming a file or folder (or a URL, kept as it is): a run writes them relative to itself.
    path_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise ConfigError(describe_errors(type(self), exc.errors()), exc.errors()) from exc

    @classmethod
    def from_yaml(cls: type[C], path: str | os.PathLike | None = None, **overrides: Any) -> C:
        """The options in the YAML file ``path`` (if any), with the ``overrides`` that are not
        ``None`` over them: what a command line with ``--config`` gives. See ``load_config``."""
        return load_config(cls, path, overrides)

    def to_dict(self) -> dict:
        """What the run's ``config.yaml`` holds (plain YAML-safe values)."""
        return self.model_dump()


def read_yaml(path: str | os.PathLike, *, what: str = "config file", fix: str = "fix the file") -> Any:
    """The YAML document in ``path``; a missing file or a syntax error is a ``UserError``."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such {what}")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not a text file ({exc.reason}); {fix}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(f"{path}: not valid YAML{where} ({problem}); {fix}") from exc


def load_config(model_cls: type[C], path: str | os.PathLike | None = None,
                overrides: Mapping[str, Any] | None = None) -> C:
    """``model_cls`` from the YAML file ``path`` (optional) with ``overrides`` laid over it;
    overrides that are ``None`` are not given and leave the file's value (or the default)."""
    data: Any = {}
    if path is not None:
        data = read_yaml(path)
        if data is None:  # an empty file
            data = {}
        if not isinstance(data, dict):
            raise UserError(f"{path}: expected a mapping of option: value, found a {type(data).__name__}")
        if data.pop(RELATIVE_TO_KEY, None) is not None:  # a run's config.yaml: paths relative to it
            data = _paths_from(model_cls, data, Path(path).parent)
        data = {k: v for k, v in data.items() if k not in model_cls.run_only}
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    return config_from_dict(model_cls, {**data, **given}, source=path, overridden=given)


def config_from_dict(model_cls: type[C], data: Mapping[str, Any], *, source: str | os.PathLike | None = None,
                     overridden: typing.Collection[str] = ()) -> C:
    """``model_cls`` from a mapping; errors name ``source`` (the file) unless the key is in ``overridden``."""
    if not isinstance(data, Mapping):
        raise UserError(f"{source or model_cls.command}: expected a mapping of option: value")
    try:
        return model_cls(**{str(k): v for k, v in data.items()})
    except ConfigError as exc:  # pydantic calls the model's __init__, which raises this
        raise UserError(describe_errors(model_cls, exc.errors, source, overridden)) from exc


def config_to_yaml(config: TrainingConfig, *, relative_to: str | os.PathLike | None = None, **extra: Any) -> str:
    """The YAML a run keeps: ``config.to_dict()`` in field order, then ``extra`` (what the run adds).

    With ``relative_to`` (the run folder) the ``path_fields`` are written relative to it, and the
    folder itself (absolute) under ``paths_relative_to``: where they pointed when written."""
    data = config.to_dict()
    if relative_to is not None:
        base = os.path.abspath(relative_to)
        for name in type(config).path_fields:
            if is_local_path(data.get(name)):
                data[name] = os.path.relpath(os.path.abspath(data[name]), base)
        extra = {**extra, RELATIVE_TO_KEY: base}
    return yaml.safe_dump({**data, **extra}, sort_keys=False)


def is_local_path(value: Any) -> bool:
    """A non-empty string that is not a URL (``gs://``, ``https://``)."""
    return isinstance(value, str) and bool(value) and "://" not in value


def _paths_from(model_cls: type[TrainingConfig], data: dict, folder: Path) -> dict:
    """``data`` with its relative ``path_fields`` taken relative to ``folder`` (normalised)."""
    data = dict(data)
    for name in model_cls.path_fields:
        value = data.get(name)
        if is_local_path(value) and not os.path.isabs(value):
            data[name] = os.path.normpath(folder / value)
    return data


# --- messages -------------------------------------------------------------------------------------

def describe_errors(model_cls: type[TrainingConfig], errors: list, source: str | os.PathLike | None = None,
                    overridden: typing.Collection[str] = ()) -> str:
    """One line for pydantic's ``errors()``: every key at fault, what it should be, and the fix."""
    def where(loc: tuple) -> str:  # the file, unless the value came from an override
        return f"{source}: " if source is not None and loc[:1] and loc[0] not in overridden else ""

    unknown = [e["loc"] for e in errors if e["type"] in _UNKNOWN_KEY]
    if unknown:
        names = ", ".join(repr(".".join(map(str, loc))) for loc in unknown)
        valid = ", ".join(sorted(_field_types(_type_at(model_cls, unknown[0][:-1]))))
        return f"{where(unknown[0])}unknown {model_cls.command} option(s) {names}; valid: {valid}"
    parts = []
    for error in errors:
        key = ".".join(map(str, error["loc"])) or "(top level)"
        annotation = _type_at(model_cls, error["loc"])
        if annotation is None or error["type"] in ("value_error", "assertion_error"):
            parts.append(f"{key}: {error['msg']}")
        else:
            parts.append(f"{key}: expected {expected_type(annotation)}, got {error['input']!r}")
    wheres = [where(error["loc"]) for error in errors]
    if len(set(wheres)) == 1:  # one source: name it once
        return wheres[0] + "; ".join(parts) + "; fix the value"
    return "; ".join(w + p for w, p in zip(wheres, parts)) + "; fix the value"


def expected_type(annotation: Any) -> str:
    """``Optional[int]`` -> "an integer or null": what a YAML value of that field must be."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        named = " or ".join(expected_type(a) for a in args if a is not type(None))
        return named + (" or null" if type(None) in args else "")
    annotation = origin or annotation
    if dataclasses.is_dataclass(annotation) or (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return "a mapping"
    return _TYPE_NAMES.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _field_types(cls: Any) -> dict:
    if isinstance(cls, type) and issubclass(cls, BaseModel):
        return {name: field.annotation for name, field in cls.model_fields.items()}
    if dataclasses.is_dataclass(cls):
        return typing.get_type_hints(cls)
    return {}


def _type_at(model_cls: Any, loc: tuple) -> Optional[Any]:
    """The annotation of the field at ``loc`` (a pydantic error location), ``None`` if not a field."""
    current = model_cls
    for part in loc:
        args = [a for a in typing.get_args(current) if a is not type(None)]
        if typing.get_origin(current) in (typing.Union, types.UnionType) and len(args) == 1:
            current = args[0]
        current = _field_types(current).get(part)
        if current is None:
            return None
    return current
