"""The app's query options as typed by a visitor (form fields, URL parameters) → the
fields of `ui.query_args.FIELDS`, which the CLI and `search --batch` use too, so every
front end turns options into `Searcher.search` arguments in one place
(`query_from_fields`).

Values arrive as strings from URLs and as typed values from Gradio components; both are
accepted. An empty value means "not set".
"""
from __future__ import annotations

import math
from collections.abc import Mapping

from retrieval.query import QueryError

from .query_args import FIELDS

__all__ = ["ANY", "form_fields", "fields_from_params", "describe_fields", "PARAMS"]

ANY = "(any)"                # a dropdown's "no filter" choice
_TRUE = {"1", "true", "on", "yes"}
_LABELS = {"min_duration": "the shortest duration", "max_duration": "the longest duration",
           "text_weight": "the text weight", "diverse": "the diversity"}
PARAMS = tuple(FIELDS)        # URL parameter names: the batch-line field names


def _number(name: str, value) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise QueryError(f"{_LABELS.get(name, name)} must be a number, got {value!r}")
    return number


def _flag(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in _TRUE
    return bool(value)


def _strings(name: str, value) -> list[str]:
    """A list field: one string, several, or (for negative terms) comma-separated."""
    values = value if isinstance(value, (list, tuple)) else [value]
    out = []
    for item in values:
        if item is None:
            continue
        parts = str(item).split(",") if name == "not" else [str(item)]
        out += [p.strip() for p in parts if p.strip() and p.strip() != ANY]
    return out


def form_fields(**given) -> dict:
    """Option values by field name (FIELDS) → the same, cleaned: strings to numbers and
    flags, negative terms split on commas, unset ones left out."""
    unknown = sorted(set(given) - set(FIELDS))
    if unknown:
        raise QueryError(f"unknown option(s) {', '.join(unknown)}")
    fields = {}
    for name, value in given.items():
        kind = FIELDS[name][0]
        if kind == "list":
            if strings := _strings(name, value):
                fields[name] = strings
        elif kind == "flag":
            if _flag(value):
                fields[name] = True
        elif kind == "choice":
            if value is not None and str(value).strip() not in ("", ANY):
                fields[name] = str(value).strip()   # checked by query_from_fields
        elif (number := _number(name, value)) is not None:
            fields[name] = number
    return fields


def fields_from_params(params) -> dict:
    """URL query parameters (a Starlette `QueryParams` or a plain mapping) → raw option
    values by field name, for `form_fields`; list fields may repeat (`artist=A&artist=B`)."""
    many = getattr(params, "getlist", None)
    given = {}
    for name in PARAMS:
        if name not in params:
            continue
        given[name] = many(name) if many and FIELDS[name][0] == "list" else params[name]
    return given


def describe_fields(fields: Mapping) -> str:
    """The options as a short phrase for the status line ("" when none)."""
    parts = []
    if fields.get("not"):
        parts.append("without " + ", ".join(fields["not"]))
    for name, label in (("artist", "by"), ("tag", "tagged"), ("from_collection", "from")):
        if fields.get(name):
            parts.append(f"{label} {' / '.join(fields[name])}")
    low, high = fields.get("min_duration"), fields.get("max_duration")
    if low is not None or high is not None:
        parts.append(f"{low or 0:g}–{high:g} s" if high is not None else f"≥ {low:g} s")
    if fields.get("exclude_artist"):
        parts.append("other artists")
    if fields.get("sections"):
        parts.append("best-matching sections")
    if fields.get("vector") == "backbone":
        parts.append("on the backbone vector")
    if fields.get("diverse") is not None:
        parts.append(f"varied (λ {fields['diverse']:g})")
    return ", ".join(parts)
