import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from vidsearch.query import parse_time_of_day
from vidsearch.search.daytime import wall_ranges

UTC = ZoneInfo("UTC")
PARIS = ZoneInfo("Europe/Paris")


def ts(text, zone=UTC):
    return dt.datetime.fromisoformat(text).replace(tzinfo=zone).timestamp()


def iso(t, zone=UTC):
    return dt.datetime.fromtimestamp(t, zone).strftime("%m-%d %H:%M")


def test_a_window_inside_the_day_on_each_day_of_the_recordings():
    spans = [(ts("2024-05-01T08:00"), ts("2024-05-03T20:00"))]
    got = wall_ranges((12 * 3600, 13 * 3600), spans, UTC)
    assert [(iso(a), iso(b)) for a, b in got] == [("05-01 12:00", "05-01 13:00"), ("05-02 12:00", "05-02 13:00"),
                                                  ("05-03 12:00", "05-03 13:00")]


def test_a_window_that_wraps_midnight_starts_the_evening_before():
    spans = [(ts("2024-05-01T02:00"), ts("2024-05-02T23:30"))]
    got = wall_ranges(parse_time_of_day("22:00-06:00"), spans, UTC)
    assert [(iso(a), iso(b)) for a, b in got] == [("04-30 22:00", "05-01 06:00"), ("05-01 22:00", "05-02 06:00"),
                                                  ("05-02 22:00", "05-03 06:00")]


def test_days_without_recordings_give_no_span_and_bounds_cut():
    spans = [(ts("2024-05-01T10:00"), ts("2024-05-01T11:00")), (ts("2024-05-09T10:00"), ts("2024-05-09T11:00"))]
    got = wall_ranges((9 * 3600, 12 * 3600), spans, UTC, after=ts("2024-05-01T10:30"))
    assert [(iso(a), iso(b)) for a, b in got] == [("05-01 10:30", "05-01 12:00"), ("05-09 09:00", "05-09 12:00")]
    assert wall_ranges((9 * 3600, 12 * 3600), spans, UTC, before=ts("2024-04-30T00:00")) == []
    assert wall_ranges((9 * 3600, 12 * 3600), [], UTC) == []


def test_local_days_of_the_zone_through_a_daylight_saving_change():
    # Paris moves its clocks from 02:00 to 03:00 on 2024-03-31: 22:00-06:00 is 7 hours long that night
    spans = [(ts("2024-03-30T12:00", PARIS), ts("2024-03-31T12:00", PARIS))]
    got = wall_ranges(parse_time_of_day("22:00-06:00"), spans, PARIS)
    assert [(iso(a, PARIS), iso(b, PARIS)) for a, b in got] == [("03-30 22:00", "03-31 06:00")]
    assert got[0][1] - got[0][0] == 7 * 3600


@pytest.mark.parametrize("bad", ["22:00", "25:00-01:00", "10:60-11:00", "10:00-10:00", "ten-eleven", "1-2-3"])
def test_bad_windows_are_refused_with_a_reason(bad):
    import argparse

    with pytest.raises(argparse.ArgumentTypeError):
        parse_time_of_day(bad)


def test_parse_time_of_day():
    assert parse_time_of_day("22:00-06:00") == (79200.0, 21600.0)
    assert parse_time_of_day(" 7:30 - 24:00 ") == (27000.0, 86400.0)
