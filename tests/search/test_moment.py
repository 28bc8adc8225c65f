from vidsearch.records import FrameHit
from vidsearch.search.moment import merge_hits


def hit(v, t, score, until=None, seg=0):
    return FrameHit(video_id=v, timestamp=t, segment_index=seg, score=score, until=until)


def test_adjacent_hits_merge_and_keep_the_best_timestamp():
    spans = merge_hits(
        [hit("a", 3.0, 0.5), hit("a", 4.0, 0.9, seg=1), hit("a", 5.0, 0.6), hit("a", 20.0, 0.7)],
        gap=2.0,
        sample_period=1.0,
    )
    assert [(s.video_id, s.start, s.end, s.timestamp, s.score, s.hits) for s in spans] == [
        ("a", 3.0, 6.0, 4.0, 0.9, 3),
        ("a", 20.0, 21.0, 20.0, 0.7, 1),
    ]
    assert spans[0].segment_index == 1


def test_static_runs_extend_the_moment_and_videos_stay_apart():
    spans = merge_hits(
        [hit("a", 10.0, 0.8, until=300.0), hit("a", 301.0, 0.4), hit("b", 10.0, 0.85)],
        gap=2.0,
        sample_period=1.0,
    )
    assert [(s.video_id, s.start, s.end) for s in spans] == [("b", 10.0, 11.0), ("a", 10.0, 302.0)]


def test_no_hits_no_spans():
    assert merge_hits([], gap=2.0, sample_period=1.0) == []


def test_a_static_run_reports_its_middle_sample():
    # a keyframe at 1 s that stood for the samples 1..7 s: the picture is anywhere in the run
    (span,) = merge_hits([hit("a", 1.0, 0.9, until=8.0)], gap=2.0, sample_period=1.0)
    assert (span.start, span.end, span.timestamp) == (1.0, 8.0, 4.0)
    # a keyframe of moving footage (its run is one sample) keeps its own time
    (span,) = merge_hits([hit("a", 5.0, 0.9, until=6.0)], gap=2.0, sample_period=1.0)
    assert span.timestamp == 5.0
    # at 2 samples/s, a run of samples 10.0..11.5 s
    (span,) = merge_hits([hit("a", 10.0, 0.9, until=12.0)], gap=2.0, sample_period=0.5)
    assert span.timestamp == 11.0
