from pathlib import Path

from vidsearch.media import MediaError


def test_message_is_path_then_reason():
    err = MediaError(Path("/videos/a.mp4"), "file is empty (0 bytes)")
    assert (err.path, err.reason) == ("/videos/a.mp4", "file is empty (0 bytes)")
    assert str(err) == "/videos/a.mp4: file is empty (0 bytes)"
    assert isinstance(err, Exception)
