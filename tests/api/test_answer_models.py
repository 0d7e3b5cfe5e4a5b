"""Each answer of `provenance.query` and its API model agree, field by field.

The seam that makes "a field added to an answer is one dataclass field and one
`from_domain()`" hold: a model reading its answer by attribute has every field of the
dataclass; a model that overrides `from_domain` (its wire form flattens open-ended `attrs`)
gives back, through `to_domain`, exactly the answer it was given. A field added to the
dataclass and forgotten in the model fails here, not in a client.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import pytest

from api.schemas import Model
from provenance.model.events import Event, EventType
from provenance.query import artifacts, blast_radius, lineage
from provenance.query.columns import names

T0 = datetime(2026, 5, 4, 9, 12, tzinfo=UTC)


def _models(base: type[Model] = Model) -> list[type[Model]]:
    found: list[type[Model]] = []
    for sub in base.__subclasses__():
        if sub.domain is not None and "domain" in vars(sub):
            found.append(sub)
        found.extend(_models(sub))
    return found


MODELS = sorted(set(_models()), key=lambda m: m.__name__)


def _sample(hint: Any) -> Any:
    """A value of the type `hint`: a whole answer, every nested answer and list filled."""
    if hint is Event:  # a valid event: its model reads it back through `Event.from_dict`
        return Event(
            id="e1",
            type=EventType.ARTIFACT_PUSHED,
            time=T0,
            source="test",
            digest="sha256:" + "a" * 64,
        )
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        hints = typing.get_type_hints(hint)
        return hint(**{f.name: _sample(hints[f.name]) for f in dataclasses.fields(hint)})
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return args[0]
    if origin in (typing.Union, types.UnionType):
        return _sample(next(a for a in args if a is not type(None)))
    if origin is list:
        return [_sample(args[0])]
    if origin in (dict, Mapping):
        return {"note": _sample(args[1]) if args[1] is not Any else "x"}
    return {str: "x", int: 1, bool: True, datetime: T0, Any: "x"}[hint]


def test_every_answer_of_the_read_use_cases_has_its_model() -> None:
    answered = {m.domain for m in MODELS}
    for module in (artifacts, blast_radius, lineage):
        for name in module.__all__:
            value = getattr(module, name)
            if dataclasses.is_dataclass(value) and value is not artifacts.Verdict:
                assert value in answered, f"{module.__name__}.{name} has no API model"


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_a_model_has_every_field_of_its_answer(model: type[Model]) -> None:
    assert model.domain is not None
    missing = set(names(model.domain)) - set(model.model_fields)
    if "from_domain" not in vars(model):  # read by attribute: the names must match
        assert not missing, f"{model.__name__} lacks {sorted(missing)}"
        extra = {n for n, f in model.model_fields.items() if f.is_required()} - set(
            names(model.domain)
        )
        assert not extra, f"{model.__name__} requires {sorted(extra)} its answer lacks"


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_the_wire_form_says_the_whole_answer(model: type[Model]) -> None:
    # Through JSON, as the CLI's --server mode reads it.
    answer = _sample(model.domain)
    wire = model.from_domain(answer).model_dump(mode="json")
    assert model.model_validate(wire).to_domain() == answer
