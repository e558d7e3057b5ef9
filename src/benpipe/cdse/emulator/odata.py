"""The OData query language of the CDSE catalogue, parsed and evaluated (pure).

What clients send to ``GET /odata/v1/Products`` ([CDSE-docs] ``APIs/OData.qmd``):

* ``$filter``: ``and``, ``or``, ``not`` and parentheses with OData precedence
  (``not`` > comparisons > ``and`` > ``or``); ``eq ne lt le gt ge``;
  ``contains``, ``startswith``, ``endswith``; the properties of
  :data:`PROPERTY_TYPES` (``Name``, ``Collection/Name``, ``ContentDate/Start``,
  ``PublicationDate`` ...) against string, number, boolean, ``null`` and ISO
  date/datetime literals; ``OData.CSC.Intersects(area=geography'SRID=4326;
  POLYGON((...))')`` (also ``MULTIPOLYGON`` and ``POINT``, evaluated with
  shapely); ``Attributes/OData.CSC.<Type>Attribute/any(att:att/Name eq 'x'
  and att/OData.CSC.<Type>Attribute/Value le 20)`` for the String, Integer,
  Double, DateTimeOffset and Boolean attribute types;
* ``$orderby`` (``ContentDate/Start``, ``ContentDate/End``, ``PublicationDate``,
  ``ModificationDate``; ``asc``/``desc``; several keys; ``Id`` is appended so
  pages are stable), ``$top`` (0-1000, default 20), ``$skip`` (0-10 000),
  ``$count``, ``$expand`` (``Attributes``, ``Assets``, ``Locations``) and
  ``$select``.

Malformed or out-of-range queries raise :class:`ODataError` with the HTTP
status and JSON body CDSE answers: 422 with a pydantic-style ``detail`` list
for ``$top``/``$skip``/``$count`` (the format of CDSE's release notes for
``$skip`` > 10 000), 400 with a ``detail`` message naming the position for
``$filter``, ``$orderby``, ``$expand`` and ``$select``.  Nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import shapely
from shapely.errors import ShapelyError
from shapely.geometry.base import BaseGeometry

#: Filterable product properties and their types.
PROPERTY_TYPES: dict[str, str] = {
    "Id": "string",
    "Name": "string",
    "ContentType": "string",
    "ContentLength": "number",
    "OriginDate": "datetime",
    "PublicationDate": "datetime",
    "ModificationDate": "datetime",
    "Online": "bool",
    "EvictionDate": "datetime",
    "S3Path": "string",
    "ContentDate/Start": "datetime",
    "ContentDate/End": "datetime",
    "Collection/Name": "string",
}
#: ``$orderby`` keys CDSE accepts.
ORDERBY_KEYS = (
    "ContentDate/Start",
    "ContentDate/End",
    "PublicationDate",
    "ModificationDate",
)
#: Properties ``$select`` may name (the product entity's top-level fields).
SELECTABLE = (
    "Id",
    "Name",
    "ContentType",
    "ContentLength",
    "OriginDate",
    "PublicationDate",
    "ModificationDate",
    "Online",
    "EvictionDate",
    "S3Path",
    "Checksum",
    "ContentDate",
    "Footprint",
    "GeoFootprint",
)
EXPANDABLE = ("Attributes", "Assets", "Locations")
ATTRIBUTE_TYPES: dict[str, str] = {
    "StringAttribute": "string",
    "IntegerAttribute": "number",
    "DoubleAttribute": "number",
    "DateTimeOffsetAttribute": "datetime",
    "BooleanAttribute": "bool",
}
MAX_TOP, DEFAULT_TOP, MAX_SKIP = 1000, 20, 10_000
_COMPARISONS = ("eq", "ne", "lt", "le", "gt", "ge")
_STRING_FUNCTIONS = ("contains", "startswith", "endswith")
_COUNT_VALUES = {"true": True, "1": True, "false": False, "0": False}


class ODataError(Exception):
    """A query CDSE refuses: ``status`` (400/422) and the JSON ``body``."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(str(detail))
        self.status = status
        self.body: dict[str, Any] = {"detail": detail}


def _filter_error(message: str, position: int) -> ODataError:
    return ODataError(400, f"Invalid $filter at position {position}: {message}")


# ------------------------------------------------------------------ records
@dataclass(frozen=True, slots=True)
class Attribute:
    """One entry of a product's ``Attributes`` (``ValueType`` as CDSE spells it)."""

    name: str
    value_type: str  # String | Integer | Double | DateTimeOffset | Boolean
    value: str | int | float | bool | datetime


@dataclass(frozen=True, slots=True)
class Record:
    """What a filter sees of one product: typed properties, attributes, footprint."""

    props: Mapping[str, Any]
    attributes: Sequence[Attribute] = ()
    footprint: BaseGeometry | None = None


# ------------------------------------------------------------------ lexer
_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?)
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<punct>[()/,:=])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # string, datetime, number, name, punct, end
    text: str
    pos: int


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            raise _filter_error(f"unexpected character {text[pos]!r}", pos)
        kind = match.lastgroup or ""
        if kind != "ws":
            out.append(_Token(kind, match.group(), pos))
        pos = match.end()
    out.append(_Token("end", "", len(text)))
    return out


# ------------------------------------------------------------------ AST
@dataclass(frozen=True, slots=True)
class Literal:
    value: Any
    type: str  # string number datetime bool null geography


@dataclass(frozen=True, slots=True)
class Prop:
    path: str
    type: str
    lambda_var: str | None = None  # set for att/Name, att/.../Value


@dataclass(frozen=True, slots=True)
class Compare:
    op: str
    left: Node
    right: Node
    type: str = "bool"


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: str  # and | or
    left: Node
    right: Node
    type: str = "bool"


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node
    type: str = "bool"


@dataclass(frozen=True, slots=True)
class StringCall:
    name: str  # contains | startswith | endswith
    subject: Node
    needle: Node
    type: str = "bool"


@dataclass(frozen=True, slots=True)
class Intersects:
    area: BaseGeometry
    type: str = "bool"


@dataclass(frozen=True, slots=True)
class AnyAttribute:
    var: str
    body: Node
    type: str = "bool"


Node = Literal | Prop | Compare | BoolOp | Not | StringCall | Intersects | AnyAttribute


# ------------------------------------------------------------------ parser
class _Parser:
    """Recursive descent: or_expr > and_expr > comparison > unary (not) > primary."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.i = 0
        self.lambda_var: str | None = None
        self.lambda_types: dict[str, str] = {}

    # -- helpers
    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def expect(self, text: str) -> _Token:
        token = self.tok
        if token.text != text:
            found = repr(token.text) if token.kind != "end" else "end of input"
            raise _filter_error(f"expected {text!r} but found {found}", token.pos)
        return self.take()

    def at_word(self, *words: str) -> bool:
        return self.tok.kind == "name" and self.tok.text in words

    # -- grammar
    def parse(self) -> Node:
        node = self.or_expr()
        if self.tok.kind != "end":
            raise _filter_error(f"unexpected {self.tok.text!r}", self.tok.pos)
        _require_bool(node, 0, "the filter")
        return node

    def or_expr(self) -> Node:
        node = self.and_expr()
        while self.at_word("or"):
            pos = self.take().pos
            right = self.and_expr()
            node = BoolOp(
                "or", _require_bool(node, pos, "or"), _require_bool(right, pos, "or")
            )
        return node

    def and_expr(self) -> Node:
        node = self.comparison()
        while self.at_word("and"):
            pos = self.take().pos
            right = self.comparison()
            node = BoolOp(
                "and", _require_bool(node, pos, "and"), _require_bool(right, pos, "and")
            )
        return node

    def comparison(self) -> Node:
        left = self.unary()
        if not self.at_word(*_COMPARISONS):
            return left
        op_token = self.take()
        right = self.unary()
        _check_comparable(op_token.text, left, right, op_token.pos)
        if self.at_word(*_COMPARISONS):
            raise _filter_error(
                "comparisons cannot be chained; combine them with 'and'", self.tok.pos
            )
        return Compare(op_token.text, left, right)

    def unary(self) -> Node:
        if self.at_word("not"):
            pos = self.take().pos
            return Not(_require_bool(self.unary(), pos, "not"))
        return self.primary()

    def primary(self) -> Node:
        token = self.tok
        if token.text == "(":
            self.take()
            node = self.or_expr()
            self.expect(")")
            return node
        if token.kind == "string":
            self.take()
            return Literal(token.text[1:-1].replace("''", "'"), "string")
        if token.kind == "number":
            self.take()
            value = (
                float(token.text)
                if re.search(r"[.eE]", token.text)
                else int(token.text)
            )
            return Literal(value, "number")
        if token.kind == "datetime":
            self.take()
            return Literal(parse_datetime(token.text, token.pos), "datetime")
        if token.kind == "name":
            return self.name_expr()
        found = repr(token.text) if token.kind != "end" else "end of input"
        raise _filter_error(
            f"expected a value or an expression, found {found}", token.pos
        )

    def name_expr(self) -> Node:
        token = self.take()
        word = token.text
        if word in ("true", "false"):
            return Literal(word == "true", "bool")
        if word == "null":
            return Literal(None, "null")
        if word == "geography":
            raise _filter_error(
                "a geography literal is only allowed in OData.CSC.Intersects", token.pos
            )
        if word in _STRING_FUNCTIONS:
            return self.string_call(word, token.pos)
        if word == "OData.CSC.Intersects":
            return self.intersects(token.pos)
        if word in ("and", "or", *_COMPARISONS):
            raise _filter_error(f"{word!r} needs an expression before it", token.pos)
        return self.path(word, token.pos)

    def string_call(self, name: str, pos: int) -> Node:
        self.expect("(")
        subject = self.or_expr()
        self.expect(",")
        needle = self.or_expr()
        self.expect(")")
        for arg in (subject, needle):
            if arg.type not in ("string", "any"):
                raise _filter_error(
                    f"{name}() takes two strings, got a {arg.type}", pos
                )
        return StringCall(name, subject, needle)

    def intersects(self, pos: int) -> Node:
        self.expect("(")
        if not (self.at_word("area") or self.at_word("Footprint")):
            raise _filter_error("expected area=geography'SRID=4326;...'", self.tok.pos)
        self.take()
        self.expect("=")
        if not self.at_word("geography"):
            raise _filter_error("expected geography'SRID=4326;...'", self.tok.pos)
        self.take()
        literal = self.tok
        if literal.kind != "string":
            raise _filter_error("expected a quoted WKT after geography", literal.pos)
        self.take()
        self.expect(")")
        return Intersects(parse_geography(literal.text[1:-1], literal.pos))

    def path(self, first: str, pos: int) -> Node:
        parts = [first]
        while self.tok.text == "/":
            self.take()
            segment = self.tok
            if segment.kind != "name":
                raise _filter_error("expected a property name after '/'", segment.pos)
            self.take()
            if segment.text == "any" and self.tok.text == "(":
                return self.any_attribute(parts, pos)
            parts.append(segment.text)
        if self.lambda_var is not None and parts[0] == self.lambda_var:
            return self.lambda_path(parts, pos)
        path = "/".join(parts)
        if path not in PROPERTY_TYPES:
            raise _filter_error(
                f"unknown property {path!r}; filterable properties: "
                + ", ".join(PROPERTY_TYPES),
                pos,
            )
        return Prop(path, PROPERTY_TYPES[path])

    def any_attribute(self, parts: list[str], pos: int) -> Node:
        if (
            len(parts) != 2
            or parts[0] != "Attributes"
            or not parts[1].startswith("OData.CSC.")
        ):
            raise _filter_error(
                "any() is supported on Attributes/OData.CSC.<Type>Attribute only", pos
            )
        cast = parts[1].removeprefix("OData.CSC.")
        if cast not in ATTRIBUTE_TYPES:
            raise _filter_error(
                f"unknown attribute type {cast!r}; expected one of "
                + ", ".join(ATTRIBUTE_TYPES),
                pos,
            )
        if self.lambda_var is not None:
            raise _filter_error("nested any() is not supported", pos)
        self.expect("(")
        var = self.tok
        if var.kind != "name":
            raise _filter_error(
                "expected a lambda variable, e.g. any(att:...)", var.pos
            )
        self.take()
        self.expect(":")
        self.lambda_var = var.text
        try:
            body = self.or_expr()
        finally:
            self.lambda_var = None
        self.expect(")")
        return AnyAttribute(var.text, _require_bool(body, var.pos, "any()"))

    def lambda_path(self, parts: list[str], pos: int) -> Node:
        rest = parts[1:]
        if rest == ["Name"]:
            return Prop("Name", "string", self.lambda_var)
        if rest == ["Value"]:
            return Prop("Value", "any", self.lambda_var)
        if len(rest) == 2 and rest[1] == "Value" and rest[0].startswith("OData.CSC."):
            cast = rest[0].removeprefix("OData.CSC.")
            if cast in ATTRIBUTE_TYPES:
                return Prop(f"Value:{cast}", ATTRIBUTE_TYPES[cast], self.lambda_var)
        raise _filter_error(
            f"unknown attribute path {'/'.join(parts)!r}; use {parts[0]}/Name or "
            f"{parts[0]}/OData.CSC.<Type>Attribute/Value",
            pos,
        )


def _require_bool(node: Node, pos: int, where: str) -> Node:
    if node.type not in ("bool", "any"):
        raise _filter_error(
            f"{where} needs a boolean expression, got a {node.type}", pos
        )
    return node


def _check_comparable(op: str, left: Node, right: Node, pos: int) -> None:
    types = {left.type, right.type} - {"any"}
    if "null" in types:
        if op not in ("eq", "ne"):
            raise _filter_error(
                f"null can only be compared with eq or ne, not {op}", pos
            )
        return
    if "geography" in types or len(types) > 1:
        raise _filter_error(f"cannot compare a {left.type} with a {right.type}", pos)
    if types == {"bool"} and op not in ("eq", "ne"):
        raise _filter_error(
            f"booleans can only be compared with eq or ne, not {op}", pos
        )


def parse_datetime(text: str, pos: int = 0) -> datetime:
    """An ISO date or datetime (UTC when no offset is given, as CDSE assumes)."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _filter_error(f"invalid date/time {text!r} ({exc})", pos) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def parse_geography(text: str, pos: int = 0) -> BaseGeometry:
    """``SRID=4326;<WKT>`` -> a shapely geometry (POINT, POLYGON, MULTIPOLYGON)."""
    srid, sep, wkt = text.partition(";")
    if not sep or srid.replace(" ", "").upper() != "SRID=4326":
        raise _filter_error(
            "the area must be geography'SRID=4326;<WKT>' (coordinates in EPSG:4326)",
            pos,
        )
    try:
        geometry = shapely.from_wkt(wkt)
    except (ShapelyError, ValueError) as exc:
        raise _filter_error(f"invalid WKT {wkt[:60]!r} ({exc})", pos) from None
    if geometry.geom_type not in ("Point", "Polygon", "MultiPolygon"):
        raise _filter_error(
            f"{geometry.geom_type} is not supported; use POINT, POLYGON or MULTIPOLYGON",
            pos,
        )
    if geometry.geom_type != "Point" and not geometry.is_valid:
        raise _filter_error(
            "the polygon is not valid (it must be closed and not self-intersecting)",
            pos,
        )
    return geometry


def parse_filter(text: str) -> Node:
    """Parse a ``$filter`` value; raises :class:`ODataError` (400) naming the position."""
    if not text.strip():
        raise _filter_error("the filter is empty", 0)
    return _Parser(text).parse()


# ------------------------------------------------------------------ evaluation
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: bool(a == b),
    "ne": lambda a, b: bool(a != b),
    "lt": lambda a, b: bool(a < b),
    "le": lambda a, b: bool(a <= b),
    "gt": lambda a, b: bool(a > b),
    "ge": lambda a, b: bool(a >= b),
}
_NUMERIC_CASTS = {"IntegerAttribute", "DoubleAttribute"}
_CAST_OF_VALUE_TYPE = {
    "String": "StringAttribute",
    "Integer": "IntegerAttribute",
    "Double": "DoubleAttribute",
    "DateTimeOffset": "DateTimeOffsetAttribute",
    "Boolean": "BooleanAttribute",
}


def _value(node: Node, record: Record, att: Attribute | None) -> Any:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Prop):
        if node.lambda_var is None:
            return record.props.get(node.path)
        assert att is not None
        if node.path == "Name":
            return att.name
        if node.path == "Value":
            return att.value
        cast = node.path.removeprefix("Value:")
        own = _CAST_OF_VALUE_TYPE.get(att.value_type)
        if own == cast or (own in _NUMERIC_CASTS and cast in _NUMERIC_CASTS):
            return att.value
        return None
    return matches(node, record, att)


def matches(node: Node, record: Record, att: Attribute | None = None) -> bool:
    """Whether ``record`` satisfies the boolean expression ``node``."""
    if isinstance(node, BoolOp):
        if node.op == "and":
            return matches(node.left, record, att) and matches(node.right, record, att)
        return matches(node.left, record, att) or matches(node.right, record, att)
    if isinstance(node, Not):
        return not matches(node.operand, record, att)
    if isinstance(node, Compare):
        left, right = _value(node.left, record, att), _value(node.right, record, att)
        if left is None or right is None:
            return node.op in ("eq", "ne") and _OPS[node.op](left, right)
        try:
            return _OPS[node.op](left, right)
        except TypeError:  # an untyped att/Value against another type
            return False
    if isinstance(node, StringCall):
        subject = _value(node.subject, record, att)
        needle = _value(node.needle, record, att)
        if not isinstance(subject, str) or not isinstance(needle, str):
            return False
        if node.name == "contains":
            return needle in subject
        if node.name == "startswith":
            return subject.startswith(needle)
        return subject.endswith(needle)
    if isinstance(node, Intersects):
        return record.footprint is not None and bool(
            record.footprint.intersects(node.area)
        )
    if isinstance(node, AnyAttribute):
        return any(matches(node.body, record, a) for a in record.attributes)
    return bool(_value(node, record, att))


# ------------------------------------------------------------------ options
@dataclass(frozen=True, slots=True)
class ProductQuery:
    """The validated query options of one ``Products`` request."""

    filter: Node | None = None
    orderby: tuple[tuple[str, bool], ...] = ()  # (key, descending)
    top: int = DEFAULT_TOP
    skip: int = 0
    count: bool = False
    expand: frozenset[str] = frozenset()
    select: tuple[str, ...] | None = None


def _validation_error(
    option: str, kind: str, message: str, raw: str, **ctx: int
) -> ODataError:
    item: dict[str, Any] = {
        "type": kind,
        "loc": ["query", option],
        "msg": message,
        "input": raw,
    }
    if ctx:
        item["ctx"] = ctx
    return ODataError(422, [item])


def _bounded_int(
    params: Mapping[str, str], option: str, default: int, maximum: int
) -> int:
    raw = params.get(option)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise _validation_error(
            option,
            "int_parsing",
            "Input should be a valid integer, unable to parse string as an integer",
            raw,
        ) from None
    if value < 0:
        raise _validation_error(
            option,
            "greater_than_equal",
            "Input should be greater than or equal to 0",
            raw,
            ge=0,
        )
    if value > maximum:
        raise _validation_error(
            option,
            "less_than_equal",
            f"Input should be less than or equal to {maximum}",
            raw,
            le=maximum,
        )
    return value


def _csv_option(
    params: Mapping[str, str], option: str, allowed: Sequence[str]
) -> tuple[str, ...]:
    raw = params.get(option)
    if raw is None:
        return ()
    items = tuple(part.strip() for part in raw.split(","))
    for item in items:
        if item not in allowed:
            raise ODataError(
                400,
                f"Invalid {option} value {item!r}; allowed: {', '.join(allowed)}",
            )
    return items


def _orderby(raw: str | None) -> tuple[tuple[str, bool], ...]:
    if raw is None:
        return ()
    keys: list[tuple[str, bool]] = []
    for part in raw.split(","):
        words = part.split()
        if (
            not words
            or len(words) > 2
            or words[0] not in ORDERBY_KEYS
            or (len(words) == 2 and words[1].lower() not in ("asc", "desc"))
        ):
            raise ODataError(
                400,
                f"Invalid $orderby {part.strip()!r}: expected one of "
                f"{', '.join(ORDERBY_KEYS)}, optionally followed by asc or desc",
            )
        keys.append((words[0], len(words) == 2 and words[1].lower() == "desc"))
    return tuple(keys)


def parse_query(params: Mapping[str, str]) -> ProductQuery:
    """Validate the ``$`` options of a Products request (see the module docstring)."""
    raw_count = params.get("$count")
    if raw_count is not None and raw_count.strip().lower() not in _COUNT_VALUES:
        raise _validation_error(
            "$count",
            "bool_parsing",
            "Input should be a valid boolean, unable to interpret input",
            raw_count,
        )
    raw_filter = params.get("$filter")
    return ProductQuery(
        filter=parse_filter(raw_filter) if raw_filter is not None else None,
        orderby=_orderby(params.get("$orderby")),
        top=_bounded_int(params, "$top", DEFAULT_TOP, MAX_TOP),
        skip=_bounded_int(params, "$skip", 0, MAX_SKIP),
        count=_COUNT_VALUES.get((raw_count or "false").strip().lower(), False),
        expand=frozenset(_csv_option(params, "$expand", EXPANDABLE)),
        select=_csv_option(params, "$select", SELECTABLE) or None,
    )


@dataclass(frozen=True, slots=True)
class Page:
    """One page of results: the matching ids in order, the total and the next skip."""

    ids: list[str]
    total: int
    next_skip: int | None


def _sort_key(record: Record, key: str) -> tuple[bool, Any]:
    value = record.props.get(key)
    return (value is None, value)


def select_page(records: Mapping[str, Record], query: ProductQuery) -> Page:
    """Filter, order (then by Id) and cut one page; ``next_skip`` as CDSE links it.

    No next link when the page is the last one, when ``$top`` is 0, or when
    the next ``$skip`` would exceed 10 000 (CDSE then shows none).
    """
    hits = [
        pid
        for pid, record in records.items()
        if query.filter is None or matches(query.filter, record)
    ]
    hits.sort()
    for key, descending in reversed(query.orderby):
        hits.sort(key=lambda pid: _sort_key(records[pid], key), reverse=descending)
    page = hits[query.skip : query.skip + query.top]
    following = query.skip + query.top
    has_more = query.top > 0 and following < len(hits) and following <= MAX_SKIP
    return Page(page, len(hits), following if has_more else None)
