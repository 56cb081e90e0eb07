"""`cloud.credentials.roster`: a member list checked whole, personal data refused by name."""

from __future__ import annotations

from datetime import date

import pytest

from cloud.credentials.roster import RosterError, header, parse
from protocol.credential import Flag


def test_chinese_headers_flags_and_dates_in_every_office_spelling() -> None:
    roster = parse(
        "会员编号,分会,驿站工作人员,母婴室,有效期至\n"
        "m-1,东区,是,否,2027/6/30\n"
        "m-2,,0,1,20270101\n"
        "\n"  # Excel's trailing blank line
    )
    assert roster.columns == ("member_id", "branch", "staff", "mother_baby", "valid_until")
    one, two = roster.entries
    assert (one.line, one.member_id, one.branch, one.flags) == (2, "m-1", "东区", int(Flag.STAFF))
    assert one.valid_until == date(2027, 6, 30)
    assert (two.flags, two.valid_until) == (int(Flag.MOTHER_BABY), date(2027, 1, 1))


@pytest.mark.parametrize(
    ("column", "why"),
    [("姓名", "a name"), ("手机号", "a phone number"), ("id_card", "an ID-card number")],
)
def test_personal_data_columns_are_refused_by_name(column: str, why: str) -> None:
    with pytest.raises(RosterError, match=f"column '{column}': looks like {why}"):
        header(["member_id", column])


def test_every_bad_line_is_named_with_its_column_and_nothing_is_returned() -> None:
    text = (
        "member_id,staff,valid_until\n"
        "m-1,maybe,2027-01-01\n"  # not yes/no
        "13812345678,0,\n"  # a mobile number as the id
        "m-3,1,next year\n"  # not a date
        "m-1,0,\n"  # repeated id
        "m-5,1\n"  # short line
    )
    with pytest.raises(RosterError) as caught:
        parse(text)
    problems = caught.value.problems
    assert problems[0].startswith("line 2, staff:")
    assert problems[1].startswith("line 3, member_id:")
    assert problems[2].startswith("line 4, valid_until:")
    assert problems[3] == "line 5, member_id: m-1 is already on line 2"
    assert problems[4] == "line 6: 2 fields, the header has 3"


def test_an_empty_file_or_a_header_alone_is_refused() -> None:
    with pytest.raises(RosterError, match="the file is empty"):
        parse("")
    with pytest.raises(RosterError, match="no members"):
        parse("member_id\n")
    with pytest.raises(RosterError, match="no member_id column"):
        header(["branch"])
