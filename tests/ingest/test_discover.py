from vidsearch.ingest.discover import discover


def test_folders_are_walked_for_video_files_and_files_are_taken_as_given(tmp_path):
    (tmp_path / "cam1" / "2024").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    for rel in ["cam1/b.MP4", "cam1/a.mkv", "cam1/2024/c.webm", "cam1/notes.txt", ".hidden/x.mp4", "cam1/.y.mp4"]:
        (tmp_path / rel).write_bytes(b"")
    odd = tmp_path / "clip.bin"
    odd.write_bytes(b"")
    found = [p.relative_to(tmp_path).as_posix() for p in discover([tmp_path / "cam1", odd, tmp_path / "missing.mp4"])]
    assert found == ["cam1/a.mkv", "cam1/b.MP4", "cam1/2024/c.webm", "clip.bin", "missing.mp4"]
