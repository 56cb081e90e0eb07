from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from cloud.db import session
from cloud.models import Station
from cloud.stations.registry import RegistryError, export_csv, import_csv
from protocol.registry import CSV_COLUMNS

HEADER = ",".join(CSV_COLUMNS)
GOOD = [
    "st-001,人民广场驿站,31.2304,121.4737,water;microwave,24/7,上海市总工会,人民大道1号,上海",
    'st-002,"Bund, south",31.2400,121.4900,toilet,"Mo-Su 08:00-20:00",,,上海',
]


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    def write_csv(*rows: str, header: str = HEADER, name: str = "stations.csv") -> Path:
        path = tmp_path / name
        path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
        return path

    return write_csv


def stations(engine: Engine) -> dict[str, Station]:
    with session(engine) as s:
        return {st.id: st for st in s.exec(select(Station))}


def test_import_creates_stations(engine: Engine, write: Callable[..., Path]) -> None:
    report = import_csv(engine, write(*GOOD))
    assert (report.created, report.updated, report.unchanged) == (2, 0, 0)
    got = stations(engine)
    assert got["st-001"].amenities == ["water", "microwave"]
    assert got["st-001"].name == "人民广场驿站"
    assert got["st-002"].name == "Bund, south"
    assert got["st-002"].opening_hours == "Mo-Su 08:00-20:00"
    assert got["st-002"].tz == "Asia/Shanghai"


def test_import_upserts_by_id_and_keeps_fields_the_csv_lacks(
    engine: Engine, write: Callable[..., Path]
) -> None:
    import_csv(engine, write(*GOOD))
    with session(engine) as s:
        st = s.get(Station, "st-001")
        assert st is not None
        st.maintenance = True
        st.capacity = 12
    renamed = GOOD[0].replace("人民广场驿站", "人民广场新驿站")
    report = import_csv(engine, write(renamed, GOOD[1], "st-003,New,31.1,121.1,,24/7,,,"))
    assert (report.created, report.updated, report.unchanged) == (1, 1, 1)
    got = stations(engine)
    assert got["st-001"].name == "人民广场新驿站"
    assert got["st-001"].maintenance
    assert got["st-001"].capacity == 12
    assert got["st-001"].updated_at >= got["st-001"].created_at


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param(["st-009,X,95,121,,24/7,,,"], ["line 2: lat:"], id="latitude"),
        pytest.param(["st-009,X,31,121,jacuzzi,24/7,,,"], ["line 2: amenities:"], id="amenity"),
        pytest.param(["st-009,X,31,121,,Mo-Xx 8-9,,,"], ["line 2: opening_hours:"], id="hours"),
        pytest.param(["ST 9,X,31,121,,24/7,,,"], ["line 2: id:"], id="id"),
        pytest.param(["st-009,X,31,121,,24/7,,"], ["line 2: 8 fields, expected 9"], id="fields"),
        pytest.param(["st-009,X,north,121,,24/7,,,"], ["line 2: lat:"], id="not-a-number"),
        pytest.param(
            [GOOD[0], GOOD[0]], ["line 3: duplicate id 'st-001' (first on line 2)"], id="dupe"
        ),
    ],
)
def test_errors_name_the_line(
    engine: Engine, write: Callable[..., Path], rows: list[str], expected: list[str]
) -> None:
    with pytest.raises(RegistryError) as err:
        import_csv(engine, write(*rows))
    assert len(err.value.errors) == len(expected)
    for message, prefix in zip(err.value.errors, expected, strict=True):
        assert message.startswith(prefix), message


def test_every_bad_line_is_reported_and_nothing_is_written(
    engine: Engine, write: Callable[..., Path]
) -> None:
    import_csv(engine, write(GOOD[0]))
    before = stations(engine)
    path = write(
        GOOD[0].replace("人民广场驿站", "renamed"),  # line 2: valid, must not be applied
        "st-010,X,95,121,,24/7,,,",  # line 3
        "",  # line 4: blank lines are skipped but still counted
        GOOD[1],  # line 5: valid, must not be created
        "st-011,X,31,200,,24/7,,,",  # line 6
    )
    with pytest.raises(RegistryError) as err:
        import_csv(engine, path)
    assert [e.split(":")[0] for e in err.value.errors] == ["line 3", "line 6"]
    assert "2 error(s)" in str(err.value)
    after = stations(engine)
    assert after.keys() == before.keys() == {"st-001"}
    assert after["st-001"].name == "人民广场驿站"


def test_line_numbers_count_quoted_newlines(engine: Engine, write: Callable[..., Path]) -> None:
    path = write('st-001,"two\nlines",31,121,,24/7,,,', "st-002,X,31,999,,24/7,,,")
    with pytest.raises(RegistryError) as err:
        import_csv(engine, path)
    assert err.value.errors[0].startswith("line 4: lon:")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("id,name,lat,lon", "line 1: missing column(s): amenities, opening_hours"),
        (HEADER + ",colour", "line 1: unknown column(s): colour"),
    ],
)
def test_header_is_checked(
    engine: Engine, write: Callable[..., Path], header: str, message: str
) -> None:
    with pytest.raises(RegistryError) as err:
        import_csv(engine, write(header=header))
    assert err.value.errors[0].startswith(message)


def test_a_gbk_file_is_read_as_gb18030(engine: Engine, tmp_path: Path) -> None:
    # Story: Excel on Chinese Windows saves "CSV (逗号分隔)" in GBK; it used to be refused.
    path = tmp_path / "gbk.csv"
    path.write_bytes(
        (HEADER + "\n" + GOOD[1] + "\n" + "st-003,驿站,31,121,,24/7,,,\n").encode("gbk")
    )
    report = import_csv(engine, path)
    assert (report.created, report.encoding) == (2, "gb18030")
    assert stations(engine)["st-003"].name == "驿站"


def test_broken_utf8_names_the_line_instead_of_reading_mojibake(
    engine: Engine, tmp_path: Path
) -> None:
    # Story: one cut-off character in a UTF-8 file must not turn every name into GB18030 noise.
    path = tmp_path / "cut.csv"
    path.write_bytes(
        (HEADER + "\n" + GOOD[0] + "\n" + "st-003,驿").encode()
        + "站".encode()[:2]  # the last byte of 站 lost
        + b",31,121,,24/7,,,\n"
    )
    with pytest.raises(RegistryError, match="line 3: not valid UTF-8"):
        import_csv(engine, path)
    assert stations(engine) == {}


def test_excel_bom_and_column_order_are_accepted(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    cols = list(reversed(CSV_COLUMNS))
    row = dict(zip(CSV_COLUMNS, GOOD[0].split(","), strict=True))
    path.write_bytes(("\ufeff" + ",".join(cols) + "\r\n" + ",".join(row[c] for c in cols)).encode())
    assert import_csv(engine, path).created == 1


def test_export_round_trips(engine: Engine, write: Callable[..., Path], tmp_path: Path) -> None:
    import_csv(engine, write(*GOOD))
    out = tmp_path / "out.csv"
    assert export_csv(engine, out) == 2
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel needs the BOM for UTF-8
    assert out.read_text(encoding="utf-8-sig").splitlines()[0] == (
        HEADER + ",capacity,entrance_hint,contact_phone"
    )
    report = import_csv(engine, out)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 2)


def test_entrance_hint_and_phone_import_under_chinese_headers_and_a_bad_phone_names_its_line(
    engine: Engine, write: Callable[..., Path]
) -> None:
    header = "编号,名称,纬度,经度,设施,营业时间,运营方,地址,城市,入口提示,联系电话"
    good = "st-001,甲站,31.23,121.47,饮水,24/7,,,上海,东门进,+86 21-6321 0000"
    bad = "st-002,乙站,31.24,121.48,饮水,24/7,,,上海,,请拨打热线"
    with pytest.raises(RegistryError) as refused:
        import_csv(engine, write(good, bad, header=header))
    assert [e.split(":")[:2] for e in refused.value.errors] == [
        ["line 3", " contact_phone (联系电话)"]
    ]
    assert stations(engine) == {}
    import_csv(engine, write(good, header=header))
    got = stations(engine)["st-001"]
    assert (got.entrance_hint, got.contact_phone) == ("东门进", "+86 21-6321 0000")
