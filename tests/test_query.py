import argparse

import pytest

from vidsearch.query import WallTime, parse_region, parse_time, parse_when


def test_time_and_region_parsing():
    assert parse_time("90") == 90 and parse_time("01:30") == 90 and parse_time("1:00:01.5") == 3601.5
    assert parse_region("10,20,30,40") == (10, 20, 30, 40)
    import argparse

    for bad in ("x", "1:2:3:4", "-5"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_time(bad)
    with pytest.raises(argparse.ArgumentTypeError):
        parse_region("1,2,0,4")


def test_a_date_time_is_a_wall_clock_bound_and_seconds_are_video_time():
    assert isinstance(parse_when("2024-05-01T10:00+00:00"), WallTime)
    assert parse_when("2024-05-01T10:00+00:00") == 1714557600.0
    assert parse_when("1:30") == 90 and not isinstance(parse_when("1:30"), WallTime)
    with pytest.raises(argparse.ArgumentTypeError):
        parse_when("2024-13-01T10:00")
