"""Straight-through processing: which predicted files need a person, and why.

Each model may set a confidence threshold and rules per label. A file whose every field is at
least that confident and passes its rules is approved at once; the others wait in the review
queue with each flagged field saying why. A label's lesser candidates below the threshold (a
second reading the network doubted, a second plate it barely saw) are alternatives a reviewer
may pick, not fields the file waits on. Rules, per label:

- ``required``: the file must have the field;
- ``pattern``: the text must match this regular expression (whole text);
- ``date``: the text must parse as a date (day first, like most of the world) not in the future;
- ``min`` / ``max``: the text must be a number in this range;
- ``equals``: the text must equal another label's text (e.g. a total and an amount due).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from docloop.db.tables import Model
from docloop.errors import InvalidInput
from docloop.services.auth import Principal
from docloop.services.context import AppContext
from docloop.services.models import load_model, touch
from docloop.services.users import require

RULE_KEYS = {"required", "pattern", "date", "min", "max", "equals"}
# Without a threshold, a prediction scored below this beside a better one of its label is an
# alternative.
ALTERNATIVE_BELOW = 0.5
UNTOUCHED = "correctly_predicted"  # the status a prediction has until a person acts on it
WRONG = "wrong"
# Statuses a person gave: the field as they confirmed, corrected or annotated it. These outrank
# any machine reading. A box a person drew ("added") holds the OCR text under it, a suggestion
# until they confirm or correct it.
BY_A_PERSON = frozenset({"correct", "corrected", "annotated"})
SUGGESTED = "added"
DATE_FORMATS = ("%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%d/%m/%y", "%d-%m-%y", "%Y-%m-%d",
                "%d %b %Y", "%d %B %Y", "%b %d, %Y")  # fmt: skip


def validate_rules(rules: object, labels: list[str]) -> dict[str, dict[str, Any]]:
    """The rules as stored, or InvalidInput naming the first problem."""
    if rules is None:
        return {}
    if not isinstance(rules, dict):
        raise InvalidInput("rules must be an object: {label: {rule: value}}")
    for label, spec in rules.items():
        if label not in labels:
            raise InvalidInput(f"rules name {label!r}, which is not a label of the model")
        if not isinstance(spec, dict) or not set(spec) <= RULE_KEYS:
            raise InvalidInput(f"rules for {label!r} may only use {', '.join(sorted(RULE_KEYS))}")
        if "pattern" in spec:
            try:
                re.compile(str(spec["pattern"]))
            except re.error as exc:
                raise InvalidInput(
                    f"pattern for {label!r} is not a regular expression: {exc}"
                ) from None
        for bound in ("min", "max"):
            if bound in spec and not isinstance(spec[bound], int | float):
                raise InvalidInput(f"{bound} for {label!r} must be a number")
        if "equals" in spec and spec["equals"] not in labels:
            raise InvalidInput(f"{label!r} equals {spec['equals']!r}, which is not a label")
    return rules  # type: ignore[return-value]


def configure(
    ctx: AppContext,
    who: Principal,
    model_id: str,
    *,
    threshold: object,
    rules: object,
    webhook_url: object,
) -> Routing:
    """Set the model's routing threshold, rules and webhook (None clears each)."""
    require(who, "models")
    if threshold is not None and (
        not isinstance(threshold, int | float) or not 0 <= threshold <= 1
    ):
        raise InvalidInput("threshold must be a number between 0 and 1, or null")
    if webhook_url is not None:
        from docloop.services.webhooks import check_url

        check_url(str(webhook_url), ctx)
    with ctx.session() as s:
        model = load_model(s, who, model_id)
        model.rules = validate_rules(rules, list(model.categories)) or None
        previous = model.review_threshold
        model.review_threshold = float(threshold) if threshold is not None else None
        model.webhook_url = str(webhook_url) if webhook_url else None
        if model.review_threshold != previous:  # it decides which predictions are fields
            from docloop.services.file_summary import refresh_model

            refresh_model(s, model.id, model.review_threshold)
        touch(model)
        return settings_of(model)


@dataclass(frozen=True, slots=True)
class Routing:
    """Which files skip review (threshold and per-label rules) and where approved ones go."""

    threshold: float | None
    rules: dict[str, dict[str, Any]]
    webhook_url: str | None


def settings_of(model: Model) -> Routing:
    return Routing(
        threshold=model.review_threshold, rules=model.rules or {}, webhook_url=model.webhook_url
    )


def get_settings(ctx: AppContext, who: Principal, model_id: str) -> Routing:
    with ctx.session() as s:
        return settings_of(load_model(s, who, model_id))


def flag(model: Model, pages: list[list[dict[str, Any]]], today: date) -> list[str]:
    """Mark each prediction with its ``flags`` (reasons it needs a person), in place, and return
    the file-level reasons (required fields missing). A file with no reason at all and a
    threshold set goes straight through."""
    rules: dict[str, dict[str, Any]] = model.rules or {}
    preds = [p for page in pages for p in page]
    texts = {p["label"]: p.get("ocr_text", "") for p in sorted(preds, key=lambda p: p["score"])}
    threshold = model.review_threshold
    for p, alternative in zip(preds, alternatives(preds, threshold), strict=True):
        if alternative:
            p["flags"] = []
            continue
        below = threshold is not None and p["score"] < threshold
        reasons = [f"confidence {p['score']:.2f} is below {threshold:.2f}"] if below else []
        reasons += _rule_failures(rules.get(p["label"], {}), p.get("ocr_text", ""), texts, today)
        p["flags"] = reasons
    return [
        f"required field {label!r} is missing"
        for label, spec in rules.items()
        if spec.get("required") and label not in texts
    ]


def alternatives(preds: list[dict[str, Any]], threshold: float | None) -> list[bool]:
    """Per prediction, whether it is an alternative rather than a field: scored below the
    threshold (``ALTERNATIVE_BELOW`` when none is set) and below its label's best on the file.
    The decoder lists readings the network doubted as such candidates; a file does not wait on
    them, and approving it does not make them training data unless a person confirmed them."""
    cut = ALTERNATIVE_BELOW if threshold is None else threshold
    best: dict[str, float] = {}
    for p in preds:
        best[p["label"]] = max(best.get(p["label"], 0.0), p["score"])
    return [p["score"] < cut and p["score"] < best[p["label"]] for p in preds]


def read_fields(preds: list[dict[str, Any]], threshold: float | None) -> list[dict[str, Any]]:
    """The predictions a file is read for, in exports and in an approved file's training data:
    none marked wrong, and no alternative nobody confirmed."""
    return [
        p
        for p, alternative in zip(preds, alternatives(preds, threshold), strict=True)
        if p.get("status") != WRONG and not (alternative and p.get("status") == UNTOUCHED)
    ]


def ranked(fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fields best first: what a person confirmed or corrected, then machine readings and
    suggestions by score. Exports and webhooks take a label's best field from this order."""
    return sorted(
        fields, key=lambda p: (p.get("status") not in BY_A_PERSON, -float(p.get("score", 0)))
    )


def best_fields(preds: list[dict[str, Any]], threshold: float | None) -> dict[str, dict[str, Any]]:
    """Each label's best field (``ranked``) among the file's fields (``read_fields``)."""
    best: dict[str, dict[str, Any]] = {}
    for p in ranked(read_fields(preds, threshold)):
        best.setdefault(p["label"], p)
    return best


def straight_through(model: Model, pages: list[list[dict[str, Any]]], missing: list[str]) -> bool:
    preds = [p for page in pages for p in page]
    return (
        model.review_threshold is not None
        and bool(preds)
        and not missing
        and not any(p["flags"] for p in preds)
    )


def _rule_failures(
    spec: dict[str, Any], text: str, texts: dict[str, str], today: date
) -> list[str]:
    out = []
    if "pattern" in spec and not re.fullmatch(str(spec["pattern"]), text):
        out.append(f"does not match the pattern {spec['pattern']}")
    if spec.get("date"):
        when = parse_date(text)
        if when is None:
            out.append("is not a date")
        elif when > today:
            out.append("is a date in the future")
    if "min" in spec or "max" in spec:
        value = parse_number(text)
        if value is None:
            out.append("is not a number")
        elif ("min" in spec and value < spec["min"]) or ("max" in spec and value > spec["max"]):
            out.append(f"is outside {spec.get('min', '-inf')} to {spec.get('max', 'inf')}")
    if "equals" in spec and texts.get(spec["equals"]) != text:
        out.append(f"differs from {spec['equals']}")
    return out


def parse_date(text: str) -> date | None:
    cleaned = " ".join(text.replace(",", ", ").split()).strip()
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(cleaned, fmt).date()
        except ValueError:
            continue
    return None


def parse_number(text: str) -> float | None:
    cleaned = re.sub(r"[^\d.,-]", "", text).replace(",", "")
    try:
        return float(cleaned)
    except ValueError:
        return None


def apply(model: Model, pages: list[list[dict[str, Any]]]) -> bool:
    """Flag a new prediction's fields; True when the file goes straight through."""
    missing = flag(model, pages, date.today())
    return straight_through(model, pages, missing)
