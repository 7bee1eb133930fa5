"""The schema language of ``params.yaml``: value specs (numbers, choices, lists, records)
and :func:`check_section`, which checks a mapping against a schema and raises
:class:`ParamsError` naming the bad key by its full path (for example
``fashion_mnist.paper.fuse_pv.patience``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


class ParamsError(ValueError):
    """A key of params.yaml is unknown, missing, of the wrong type or out of range."""


@dataclass(frozen=True)
class Number:
    """A finite int (``integer=True``) or float within ``[low, high]`` (``None``:
    unbounded); ``positive`` excludes ``low`` itself. NaN and infinities are refused."""

    integer: bool = False
    low: float | None = None
    high: float | None = None
    positive: bool = False
    nullable: bool = False

    def check(self, value: Any, key: str) -> None:
        if value is None and self.nullable:
            return
        kind = "an integer" if self.integer else "a number"
        if isinstance(value, bool) or not isinstance(value, int if self.integer else (int, float)):
            hint = (
                " (YAML reads a number without a decimal point, like 1e-3, as text: write 1.0e-3)"
                if isinstance(value, str) and _is_float(value)
                else ""
            )
            raise ParamsError(
                f"{key}: expected {kind}{' or null' if self.nullable else ''}, got {value!r}{hint}"
            )
        if not math.isfinite(value):
            raise ParamsError(f"{key}: must be a finite number, got {value!r}")
        if self.low is not None and (value < self.low or (self.positive and value == self.low)):
            relation = ">" if self.positive else ">="
            raise ParamsError(f"{key}: must be {relation} {self.low}, got {value!r}")
        if self.high is not None and value > self.high:
            raise ParamsError(f"{key}: must be <= {self.high}, got {value!r}")


@dataclass(frozen=True)
class Record:
    """A mapping checked against ``schema`` (as a nested section), usable in lists."""

    schema: dict

    def check(self, value: Any, key: str) -> None:
        check_section(value, self.schema, key)


@dataclass(frozen=True)
class Or:
    """The value ``literal`` (``"auto"``, ``None``) or a value satisfying ``spec``."""

    literal: Any
    spec: Any

    def check(self, value: Any, key: str) -> None:
        if value is self.literal or (isinstance(value, str) and value == self.literal):
            return
        try:
            self.spec.check(value, key)
        except ParamsError as error:
            raise ParamsError(f"{error} (or {self.literal!r})") from None


@dataclass(frozen=True)
class Boolean:
    def check(self, value: Any, key: str) -> None:
        if not isinstance(value, bool):
            raise ParamsError(f"{key}: expected true or false, got {value!r}")


@dataclass(frozen=True)
class Choice:
    options: tuple

    def check(self, value: Any, key: str) -> None:
        if value not in self.options:
            raise ParamsError(f"{key}: must be one of {list(self.options)}, got {value!r}")


@dataclass(frozen=True)
class ListOf:
    """A non-empty list whose items satisfy ``item``, without repeats if ``unique``."""

    item: Any
    unique: bool = True

    def check(self, value: Any, key: str) -> None:
        if not isinstance(value, list) or not value:
            raise ParamsError(f"{key}: expected a non-empty list, got {value!r}")
        for i, element in enumerate(value):
            self.item.check(element, f"{key}[{i}]")
        if self.unique and len(set(map(repr, value))) != len(value):
            raise ParamsError(f"{key}: has repeated entries: {value!r}")


@dataclass(frozen=True)
class Mapping:
    """A mapping whose keys are names chosen by the user (sweeps, their settings); its
    contents are checked by the code that reads it."""

    def check(self, value: Any, key: str) -> None:
        if not isinstance(value, dict):
            raise ParamsError(f"{key}: expected a mapping, got {value!r}")


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_section(
    section: Any, schema: dict[str, Any], key: str = "", complete: bool = True
) -> None:
    """Check a mapping against ``schema`` (values are specs or nested schemas); ``key``
    is the mapping's path in the file (empty at the top level). ``complete=False``
    checks only the keys present (a block that another one completes)."""

    def path(name: str) -> str:
        return f"{key}.{name}" if key else name

    if not isinstance(section, dict):
        raise ParamsError(f"{key or 'params'}: expected a mapping, got {section!r}")
    unknown = sorted(set(section) - set(schema))
    if unknown:
        raise ParamsError(f"{path(unknown[0])}: unknown key (known: {sorted(schema)})")
    missing = sorted(set(schema) - set(section))
    if missing and complete:
        raise ParamsError(f"{path(missing[0])}: missing key")
    for name, spec in schema.items():
        child = path(name)
        if name not in section:
            continue
        if isinstance(spec, dict):
            check_section(section[name], spec, child, complete)
        else:
            spec.check(section[name], child)


POSITIVE_INT = Number(integer=True, low=1)
LEARNING_RATE = Number(low=0.0, positive=True)
