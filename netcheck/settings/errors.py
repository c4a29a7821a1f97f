"""Configuration errors: one message per problem, naming the file, the field and what is wrong.

Validation errors from pydantic are turned into ConfigError here, with values clipped so a hostile
file cannot flood the terminal.
"""

from __future__ import annotations

import datetime
import difflib
import re
import reprlib
from typing import Any, get_args

from pydantic import (
    BaseModel,
    ValidationError,
)

MAX_MESSAGE = 300  # characters of one problem in a message; a value is echoed at most _SHORT characters


class ConfigError(Exception):
    """A bad input: which file, which field, what is wrong."""

    def __init__(self, source: str, field: str, problem: str) -> None:
        # Each line cut to a readable length: a validator may quote a value that YAML aliases expanded.
        problem = "\n".join(_clip(line, 2 * MAX_MESSAGE) for line in problem.split("\n"))
        self.source, self.field, self.problem = source, field, problem
        where = f"{source}: {field}: " if field else f"{source}: "
        super().__init__(where + problem)



def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after", "literal_error") or "[" in str(part):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 70
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxlong = 2, 4, 4, 40


def _short(value: Any) -> str:
    """A value as echoed in a message: never more than ~60 characters, whatever its size (reprlib
    does not build the whole repr of an expanded structure first)."""
    text = _REPR.repr(value)
    return text if len(text) <= 60 else text[:45] + "..." + text[-10:]


_LONG_WORD = re.compile(r"\S{81,}")


def _clip(text: str, limit: int = MAX_MESSAGE) -> str:
    """One problem's text, at most `limit` characters: a validator may quote a huge value, so long
    words are shortened in the middle first, then the middle of the text goes, keeping both ends."""
    if len(text) <= limit:
        return text
    text = _LONG_WORD.sub(lambda m: f"{m[0][:45]}...{m[0][-15:]}", text)
    if len(text) <= limit:
        return text
    head = (limit * 2) // 3
    return f"{text[:head]} ... {text[-(limit - head - 5):]}"


def _model_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model that holds the field at `loc` (by YAML name), for 'did you mean' hints."""
    model: type[BaseModel] | None = root
    for part in loc[:-1]:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        model = _inner_model(field.annotation) if field is not None else None
    return model


def _inner_model(tp: Any) -> type[BaseModel] | None:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    for arg in get_args(tp):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _unknown_field(root: type[BaseModel] | None, loc: tuple[int | str, ...]) -> str:
    model = _model_at(root, loc) if root is not None else None
    if model is None:
        return "unknown field"
    names = [f.alias or n for n, f in model.model_fields.items()]
    close = difflib.get_close_matches(str(loc[-1]), names, n=1, cutoff=0.6)
    if close:
        return f"unknown field; did you mean {close[0]!r}?"
    return f"unknown field; expected one of: {', '.join(names)}"


def _kind_of(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    return f"{type(value).__name__} {_short(value)}"


def _validation_error(src: str, exc: ValidationError, root: type[BaseModel] | None = None) -> ConfigError:
    lines: list[tuple[str, str]] = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        field = _loc(loc)
        msg = err["msg"].removeprefix("Value error, ")
        inp = err.get("input")
        if err["type"] == "extra_forbidden":
            msg = _unknown_field(root, loc)
        elif err["type"] in ("model_type", "model_attributes_type", "dict_type"):
            msg = f"must be a mapping (key: value), found {_kind_of(inp)}"
        elif err["type"] == "string_type":
            msg = f"must be text, found {_kind_of(inp)}"
            if isinstance(inp, bool | int | float | datetime.date):
                msg += "; put the value in quotes"
        elif err["type"] == "missing":
            msg = "is required"
        elif err["type"] == "list_type":
            msg = f"must be a list ([a, b] or '- item' lines), found {_kind_of(inp)}"
        elif "input" in err and err["type"] != "missing" and not isinstance(inp, dict | list) and (
                _short(inp) not in msg and not (isinstance(inp, str) and len(inp) > 60 and inp[:40] in msg)):
            msg = f"{msg} (got {_short(inp)})"
        field, msg = _clip(field, 120), _clip(msg)
        if (field, msg) not in lines:
            lines.append((field, msg))
        if len(lines) > 20:
            break
    field, msg = lines[0]
    if len(lines) > 1:
        msg += "".join(f"\n  {src}: {f}: {m}" for f, m in lines[1:20])
    if len(lines) > 20:
        msg += f"\n  {src}: ... and more ({exc.error_count()} problems in all)"
    return ConfigError(src, field, msg)
