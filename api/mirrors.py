"""Response models that mirror a query dataclass field for field, and the way back.

An answer whose wire form is its dataclass, name for name, gets its model here instead of a
second list of the same fields:

    SearchResponse = mirror(catalog.SearchResult, name="SearchResponse")

is a `Model` with one pydantic field per dataclass field: same type, same default, and as its
OpenAPI description the field's `metadata["doc"]` (the dataclass's docstring stays inside).
Nested dataclasses are mirrored as well, so a field added to the dataclass is on the wire at
once. An answer whose wire form differs (other names, other shapes) keeps a hand-written
model with its own `from_domain()`.

Each mirror names its dataclass as `domain`, as every wire form that reads back does, and
`parse(SearchResponse, SearchResult, json)` goes back through `Model.to_domain`: what a
client (the CLI's `--server`) received, validated by the wire form and rebuilt as the
dataclass the local path computes, so one renderer serves both.
"""

from __future__ import annotations

import types
import typing
from dataclasses import MISSING, fields, is_dataclass
from typing import Any, TypeVar, cast

from pydantic import Field, create_model

from api.schemas import Model

T = TypeVar("T")
_MODELS: dict[type, type[Model]] = {}  # dataclass -> its mirror
_CONTAINERS = (list, tuple, set, frozenset, dict)


def mirror(answer_type: type, *, name: str | None = None) -> type[Model]:
    """The response model of `answer_type`, named `name` (default: the dataclass's name).

    One mirror per dataclass: a nested dataclass that needs another name than its own is
    mirrored (with that name) before the answer that holds it.
    """
    found = _MODELS.get(answer_type)
    if found is not None:
        if name is not None and found.__name__ != name:
            raise ValueError(f"{answer_type.__name__} is mirrored already as {found.__name__}")
        return found
    if not is_dataclass(answer_type):
        raise TypeError(f"{answer_type.__name__} is not a dataclass")
    hints = typing.get_type_hints(answer_type)
    definitions: dict[str, Any] = {}
    for f in fields(answer_type):
        described = {"description": f.metadata["doc"]} if "doc" in f.metadata else {}
        if f.default is not MISSING:
            default: Any = Field(f.default, **described)
        elif f.default_factory is not MISSING:
            default = Field(default_factory=f.default_factory, **described)
        else:
            default = Field(..., **described)
        definitions[f.name] = (_wire(hints[f.name]), default)
    model = cast(
        "type[Model]",
        create_model(
            name or answer_type.__name__,
            __base__=Model,
            __module__=answer_type.__module__,
            **definitions,
        ),
    )
    # The dataclass it reads back into, under the name every wire form gives it (`domain`).
    setattr(model, "domain", answer_type)  # noqa: B010 - not declared on `Model` here
    _MODELS[answer_type] = model
    return model


def pairs() -> list[tuple[type, type[Model]]]:
    """Every (dataclass, model) known here: for the test that they agree."""
    return list(_MODELS.items())


def _wire(hint: Any) -> Any:
    """A field's type with every dataclass in it replaced by its mirror."""
    if isinstance(hint, type) and is_dataclass(hint):
        return mirror(hint)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is types.UnionType or origin is typing.Union:
        return typing.Union[tuple(_wire(a) for a in args)]  # noqa: UP007 - built at run time
    if origin in _CONTAINERS and args:
        return origin[tuple(a if a is Ellipsis else _wire(a) for a in args)]
    return hint  # a plain type, a Literal


def parse(model: type[Model], answer_type: type[T], data: Any) -> T:
    """JSON as the service answered it, validated by `model` (the mirror of `answer_type`)
    and rebuilt as that dataclass."""
    if model.domain is not answer_type:
        raise TypeError(f"{model.__name__} is not the wire form of {answer_type.__name__}")
    answer = model.model_validate(data).to_domain()
    assert isinstance(answer, answer_type)
    return answer


__all__ = ["mirror", "pairs", "parse"]
