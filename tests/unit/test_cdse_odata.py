"""The emulator's OData query language: each construct, precedence, refusals."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import shapely

from benpipe.cdse.emulator.odata import (
    Attribute,
    ODataError,
    Record,
    matches,
    parse_filter,
    parse_query,
    select_page,
)

T33 = "S2A_MSIL1C_20170613T101031_N0205_R022_T33UUP_20170613T101608.SAFE"
T29 = "S2B_MSIL1C_20180204T094159_N0206_R036_T29SND_20180204T094201.SAFE"


def _record(
    name: str,
    start: datetime,
    *,
    published: datetime,
    cloud: float,
    orbit: int,
    box: tuple[float, float, float, float],
    online: bool = True,
) -> Record:
    return Record(
        {
            "Id": name[:3],
            "Name": name,
            "ContentLength": 4_000_000,
            "Online": online,
            "ContentDate/Start": start,
            "ContentDate/End": start,
            "PublicationDate": published,
            "ModificationDate": published,
            "Collection/Name": "SENTINEL-2",
        },
        (
            Attribute("productType", "String", "S2MSI1C"),
            Attribute("cloudCover", "Double", cloud),
            Attribute("relativeOrbitNumber", "Integer", orbit),
            Attribute("beginningDateTime", "DateTimeOffset", start),
        ),
        shapely.box(*box),
    )


A = _record(
    T33,
    datetime(2017, 6, 13, 10, 10, 31, tzinfo=UTC),
    published=datetime(2023, 1, 5, tzinfo=UTC),
    cloud=12.5,
    orbit=22,
    box=(12.2, 48.6, 12.4, 48.7),
)
B = _record(
    T29,
    datetime(2018, 2, 4, 9, 41, 59, tzinfo=UTC),
    published=datetime(2023, 3, 1, tzinfo=UTC),
    cloud=45.0,
    orbit=36,
    box=(-9.0, 39.6, -8.9, 39.7),
    online=False,
)


def hits(text: str) -> list[str]:
    node = parse_filter(text)
    return [r.props["Id"] for r in (A, B) if matches(node, r)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Name eq '{T33}'", ["S2A"]),
        (f"Name ne '{T33}'", ["S2B"]),
        ("ContentLength gt 3999999", ["S2A", "S2B"]),
        ("ContentLength lt 4000000", []),
        ("ContentLength le 4000000 and ContentLength ge 4000000", ["S2A", "S2B"]),
        ("Online eq false", ["S2B"]),
        ("contains(Name,'T29SND')", ["S2B"]),
        ("startswith(Name,'S2A_')", ["S2A"]),
        ("endswith(Name,'101608.SAFE')", ["S2A"]),
        ("Collection/Name eq 'SENTINEL-2'", ["S2A", "S2B"]),
        ("Collection/Name eq 'SENTINEL-1'", []),
        ("ContentDate/Start gt 2017-06-13T00:00:00.000Z", ["S2A", "S2B"]),
        ("ContentDate/Start lt 2018-01-01", ["S2A"]),
        ("ContentDate/End ge 2018-02-04T10:41:59+01:00", ["S2B"]),
        ("PublicationDate le 2023-01-05T00:00:00Z", ["S2A"]),
        ("ModificationDate gt 2023-02-01T00:00:00.000Z", ["S2B"]),
        ("ContentDate/Start eq null", []),
        ("ContentDate/Start ne null", ["S2A", "S2B"]),
    ],
)
def test_comparisons_functions_and_dates(text: str, expected: list[str]) -> None:
    assert hits(text) == expected


def test_precedence_and_parentheses() -> None:
    # and binds tighter than or
    assert hits(f"Name eq '{T33}' or Name eq '{T29}' and Online eq true") == ["S2A"]
    assert hits(f"(Name eq '{T33}' or Name eq '{T29}') and Online eq false") == ["S2B"]
    # not binds tighter than and (the CDSE documentation's own example)
    text = "not contains(Name,'S2A') and ContentDate/Start gt 2017-01-01T00:00:00.000Z"
    assert hits(text) == ["S2B"]
    assert hits("not (contains(Name,'S2A') or contains(Name,'S2B'))") == []
    assert hits("not not contains(Name,'S2A')") == ["S2A"]
    assert hits("((((contains(Name,'T33UUP')))))") == ["S2A"]


@pytest.mark.parametrize(
    ("wkt", "expected"),
    [
        ("POLYGON((12 48,13 48,13 49,12 49,12 48))", ["S2A"]),
        ("POLYGON((0 0,1 0,1 1,0 1,0 0))", []),
        (
            "MULTIPOLYGON(((12 48,13 48,13 49,12 49,12 48)),((-9.5 39,-8 39,-8 40,-9.5 40,-9.5 39)))",
            ["S2A", "S2B"],
        ),
        ("POINT(-8.95 39.65)", ["S2B"]),
    ],
)
def test_intersects(wkt: str, expected: list[str]) -> None:
    text = f"OData.CSC.Intersects(area=geography'SRID=4326;{wkt}')"
    assert hits(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' "
            "and att/OData.CSC.StringAttribute/Value eq 'S2MSI1C')",
            ["S2A", "S2B"],
        ),
        (
            "Attributes/OData.CSC.DoubleAttribute/any(att:att/Name eq 'cloudCover' "
            "and att/OData.CSC.DoubleAttribute/Value le 20)",
            ["S2A"],
        ),
        (
            "Attributes/OData.CSC.IntegerAttribute/any(att:att/Name eq "
            "'relativeOrbitNumber' and att/OData.CSC.IntegerAttribute/Value eq 36)",
            ["S2B"],
        ),
        (
            "Attributes/OData.CSC.DateTimeOffsetAttribute/any(a:a/Name eq "
            "'beginningDateTime' and a/OData.CSC.DateTimeOffsetAttribute/Value lt "
            "2018-01-01T00:00:00Z)",
            ["S2A"],
        ),
        # a numeric cast on a String attribute matches nothing
        (
            "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' "
            "and att/OData.CSC.IntegerAttribute/Value eq 1)",
            [],
        ),
        # combined with other clauses, as eodag and cdsetool send them
        (
            "Collection/Name eq 'SENTINEL-2' and Attributes/OData.CSC.DoubleAttribute/"
            "any(att:att/Name eq 'cloudCover' and att/OData.CSC.DoubleAttribute/Value "
            "lt 50.0) and contains(Name,'T29')",
            ["S2B"],
        ),
    ],
)
def test_attribute_any(text: str, expected: list[str]) -> None:
    assert hits(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("Name eq", "end of input"),
        ("Name eq 'x' and", "end of input"),
        ("(Name eq 'x'", "expected ')'"),
        ("Name eq 'x')", "unexpected ')'"),
        ("Name eq 'x", "unexpected character"),
        ('Name eq "x"', "unexpected character"),
        ("Nme eq 'x'", "unknown property 'Nme'"),
        ("Name eq 5", "cannot compare a string with a number"),
        ("ContentLength eq 'big'", "cannot compare a number with a string"),
        ("ContentDate/Start gt 2017-13-45", "invalid date/time"),
        ("Name eq 'a' eq 'b'", "cannot be chained"),
        ("Name lt null", "null can only be compared"),
        ("Online gt true", "booleans can only be compared"),
        ("not Name", "needs a boolean"),
        ("Name and Online", "needs a boolean"),
        ("Name", "needs a boolean"),
        ("contains(Name)", "expected ','"),
        ("contains(Name,5)", "takes two strings"),
        ("eq 'x'", "needs an expression before it"),
        ("OData.CSC.Intersects(area=geography'SRID=3035;POINT(1 1)')", "EPSG:4326"),
        (
            "OData.CSC.Intersects(area=geography'SRID=4326;POLYGON((0 0,1 1))')",
            "invalid WKT",
        ),
        (
            "OData.CSC.Intersects(area=geography'SRID=4326;LINESTRING(0 0,1 1)')",
            "not supported",
        ),
        ("OData.CSC.Intersects(area='POINT(1 1)')", "expected geography"),
        (
            "Attributes/OData.CSC.FooAttribute/any(a:a/Name eq 'x')",
            "unknown attribute type",
        ),
        (
            "Attributes/OData.CSC.StringAttribute/any(a:a/Colour eq 'x')",
            "unknown attribute path",
        ),
        ("Checksum/any(a:a/Name eq 'x')", "any() is supported on Attributes"),
    ],
)
def test_malformed_filters_are_400_with_a_message(text: str, message: str) -> None:
    with pytest.raises(ODataError) as info:
        parse_filter(text)
    assert info.value.status == 400
    detail = info.value.body["detail"]
    assert detail.startswith("Invalid $filter at position ")
    assert message in detail


@pytest.mark.parametrize(
    ("params", "kind", "message"),
    [
        ({"$top": "abc"}, "int_parsing", "valid integer"),
        ({"$top": "-1"}, "greater_than_equal", "greater than or equal to 0"),
        ({"$top": "1001"}, "less_than_equal", "less than or equal to 1000"),
        ({"$skip": "10001"}, "less_than_equal", "less than or equal to 10000"),
        ({"$skip": "x"}, "int_parsing", "valid integer"),
        ({"$count": "maybe"}, "bool_parsing", "valid boolean"),
    ],
)
def test_out_of_range_options_are_422_like_cdse(
    params: dict[str, str], kind: str, message: str
) -> None:
    with pytest.raises(ODataError) as info:
        parse_query(params)
    assert info.value.status == 422
    (item,) = info.value.body["detail"]
    option = next(iter(params))
    assert item["type"] == kind and item["loc"] == ["query", option]
    assert message in item["msg"] and item["input"] == params[option]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"$orderby": "Name"}, "Invalid $orderby"),
        ({"$orderby": "PublicationDate sideways"}, "Invalid $orderby"),
        ({"$expand": "Everything"}, "Invalid $expand"),
        ({"$select": "Id,Colour"}, "Invalid $select"),
    ],
)
def test_bad_orderby_expand_select_are_400(
    params: dict[str, str], message: str
) -> None:
    with pytest.raises(ODataError) as info:
        parse_query(params)
    assert info.value.status == 400 and message in info.value.body["detail"]


def test_option_values_and_defaults() -> None:
    q = parse_query({})
    assert (q.top, q.skip, q.count, q.filter, q.orderby) == (20, 0, False, None, ())
    q = parse_query(
        {
            "$top": "1000",
            "$skip": "10000",
            "$count": "True",
            "$orderby": "PublicationDate desc,ContentDate/Start",
            "$expand": "Attributes,Assets",
            "$select": "Id,Name",
        }
    )
    assert (q.top, q.skip, q.count) == (1000, 10000, True)
    assert q.orderby == (("PublicationDate", True), ("ContentDate/Start", False))
    assert q.expand == {"Attributes", "Assets"} and q.select == ("Id", "Name")
    for value, expected in (("1", True), ("0", False), ("false", False)):
        assert parse_query({"$count": value}).count is expected


def _records(n: int) -> dict[str, Record]:
    """n products, two per day, ids not in date order."""
    out = {}
    for i in range(n):
        pid = f"id-{(3 * i) % n:02d}"
        day = datetime(2020, 1, 1 + i // 2, tzinfo=UTC)
        out[pid] = Record({"Id": pid, "ContentDate/Start": day, "PublicationDate": day})
    return out


def test_paging_orders_by_keys_then_id() -> None:
    records = _records(7)
    page = select_page(
        records, parse_query({"$top": "3", "$orderby": "ContentDate/Start desc"})
    )
    days = [records[pid].props["ContentDate/Start"].day for pid in page.ids]
    assert days == [4, 3, 3] and page.total == 7 and page.next_skip == 3
    tied = [pid for pid in page.ids if records[pid].props["ContentDate/Start"].day == 3]
    assert tied == sorted(tied)  # the Id tie-break keeps pages stable
    seen: list[str] = []
    skip = 0
    while True:
        page = select_page(records, parse_query({"$top": "3", "$skip": str(skip)}))
        seen += page.ids
        if page.next_skip is None:
            break
        skip = page.next_skip
    assert seen == sorted(records)
    assert select_page(records, parse_query({"$top": "0"})).next_skip is None
    assert select_page(records, parse_query({"$top": "0"})).ids == []


def test_no_next_link_beyond_skip_10000() -> None:
    records = {f"id-{i:05d}": Record({"Id": f"id-{i:05d}"}) for i in range(10_030)}
    page = select_page(records, parse_query({"$top": "1000", "$skip": "9000"}))
    assert page.next_skip == 10_000
    page = select_page(records, parse_query({"$top": "20", "$skip": "10000"}))
    assert len(page.ids) == 20 and page.next_skip is None
