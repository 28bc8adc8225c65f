"""A generated corpus of bad (and some odd but good) media files, for the fuzz tests (issue 7, item 3).

``build_corpus(folder)`` makes a few small real containers with ffmpeg (MP4, MKV, WebM, AVI, MOV,
GIF) and derives the rest from their bytes with a seeded ``random.Random``: empty files, cuts at
random offsets, headers alone, random bytes, wrong extensions, a 16384 x 16384 frame, 1-frame
videos, an hour-long stream with one keyframe, audio-only files, files with dozens of streams,
flipped bits and splices. Nothing comes from ../shared. Every entry says what must happen to it:

- ``"ok"``: it is a real video and must index;
- ``"error"``: it must be refused with a MediaError naming it;
- ``"either"``: damaged but maybe partly decodable (a cut, flipped bits): index or clear error.
"""
from __future__ import annotations

import random
import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

SEED = 20261123
EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".gif")


@dataclass(frozen=True)
class Case:
    path: Path
    kind: str  # what sort of damage (the corpus's census groups by it)
    expect: str  # ok | error | either


def ffmpeg(*args: str) -> None:
    exe = shutil.which("ffmpeg")
    if exe is None:
        import pytest

        pytest.skip("ffmpeg is not installed")
    subprocess.run([exe, "-v", "error", "-y", *args], check=True, timeout=300)


def _lavfi_video(seconds: float, size: str = "96x64", rate: int = 10) -> list[str]:
    return ["-f", "lavfi", "-t", str(seconds), "-i", f"testsrc2=size={size}:rate={rate}"]


def _lavfi_audio(seconds: float) -> list[str]:
    return ["-f", "lavfi", "-t", str(seconds), "-i", "sine=frequency=440:sample_rate=8000"]


def make_bases(folder: Path) -> dict[str, Path]:
    """One small real file per container (2 s, 96x64, 10 fps; audio in MKV and MOV)."""
    folder.mkdir(parents=True, exist_ok=True)
    h264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "5"]
    out = {
        ".mp4": folder / "base.mp4",
        ".mkv": folder / "base.mkv",
        ".webm": folder / "base.webm",
        ".avi": folder / "base.avi",
        ".mov": folder / "base.mov",
        ".gif": folder / "base.gif",
    }
    ffmpeg(*_lavfi_video(2), *h264, "-movflags", "+faststart", str(out[".mp4"]))
    ffmpeg(*_lavfi_video(2), *_lavfi_audio(2), *h264, "-c:a", "aac", str(out[".mkv"]))
    ffmpeg(*_lavfi_video(2), "-c:v", "libvpx", "-b:v", "200k", "-g", "5", str(out[".webm"]))
    ffmpeg(*_lavfi_video(2), "-c:v", "mpeg4", "-g", "5", str(out[".avi"]))
    ffmpeg(*_lavfi_video(2), *_lavfi_audio(2), *h264, "-c:a", "aac", str(out[".mov"]))
    ffmpeg(*_lavfi_video(2), str(out[".gif"]))
    return out


def _png(width: int, height: int) -> bytes:
    """A valid grey PNG of any size, written row by row (a 16k x 16k one is 268 MB of pixels
    but about 300 kB of file, made without holding the pixels)."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    comp = zlib.compressobj(9)
    row = b"\0" + b"\x80" * width  # filter byte, then grey pixels
    body = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def _jpeg(folder: Path) -> bytes:
    p = folder / "still.jpg"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=96x64", "-frames:v", "1", str(p))
    return p.read_bytes()


def build_corpus(folder: Path, *, seed: int = SEED) -> list[Case]:
    """Write the corpus into ``folder`` (about 210 files); return what each one is."""
    rng = random.Random(seed)
    work = folder / ".bases"
    bases = make_bases(work)
    raw = {ext: p.read_bytes() for ext, p in bases.items()}
    cases: list[Case] = []

    def put(name: str, data: bytes, kind: str, expect: str) -> None:
        p = folder / name
        p.write_bytes(data)
        cases.append(Case(p, kind, expect))

    def keep(p: Path, kind: str, expect: str) -> None:
        cases.append(Case(p, kind, expect))

    # the real containers themselves (they must index)
    for ext, p in bases.items():
        dest = folder / f"good{ext}"
        shutil.copyfile(p, dest)
        keep(dest, "good", "ok")

    # zero bytes
    for ext in EXTENSIONS + (".ts", ".flv"):
        put(f"empty{ext}", b"", "zero-byte", "error")

    # cut at random offsets (12 per container); the first few bytes, a header, or most of the file
    for ext, data in raw.items():
        for i in range(12):
            cut = rng.randrange(1, len(data))
            put(f"cut{i:02d}_{cut}{ext}", data[:cut], "truncated", "either")

    # header only: the container's head (MP4 faststart: ftyp + moov), no media data
    for ext, data in raw.items():
        for size in (16, 256, 1024):  # a GIF's first frame may fit in its first kilobyte
            put(f"head{size}{ext}", data[:size], "header-only", "either" if ext == ".gif" else "error")
    moov = raw[".mp4"]
    mdat = moov.find(b"mdat")
    put("moov-no-mdat.mp4", moov[: max(8, mdat - 4)], "header-only", "error")  # every index entry points past the end

    # random bytes under video names
    for i in range(12):
        ext = EXTENSIONS[i % len(EXTENSIONS)]
        put(f"random{i:02d}{ext}", rng.randbytes(rng.choice((1, 7, 100, 4096, 65536, 300_000))), "random-bytes", "error")
    put("zeros.mp4", b"\0" * 100_000, "random-bytes", "error")
    put("ftyp-then-random.mp4", raw[".mp4"][:32] + rng.randbytes(50_000), "random-bytes", "error")

    # wrong extensions: real videos under another container's name (must still index), and files
    # that are no video at all under a video name
    for src, ext in ((".mp4", ".avi"), (".mkv", ".mp4"), (".webm", ".mov"), (".avi", ".mkv"), (".mov", ".webm"),
                     (".gif", ".mp4")):
        put(f"really{src.strip('.')}{ext}", raw[src], "wrong-extension", "ok")
    jpeg = _jpeg(work)
    put("photo.mp4", jpeg, "wrong-extension", "either")  # ffmpeg reads a still as a 1-frame video
    put("picture.mkv", _png(64, 48), "wrong-extension", "either")
    put("notes.mkv", b"these are my notes, not a video\n" * 40, "wrong-extension", "error")
    put("page.mp4", b"<!doctype html><html><body>404 Not Found</body></html>\n", "wrong-extension", "error")
    put("data.avi", b'{"videos": []}\n', "wrong-extension", "error")
    put("script.webm", b"#!/bin/sh\necho hello\n", "wrong-extension", "error")
    put("archive.mp4", zlib.compress(raw[".mp4"]), "wrong-extension", "error")

    # 16k x 16k frames (FFmpeg itself refuses 16384 x 16384: its limit is (w+128)(h+128) < 2^28) and
    # 15360 x 15360 ones, which FFmpeg accepts: a real one-frame PNG "video", and headers that claim
    # such a frame over little data
    for side in (16384, 15360):
        huge = _png(side, side)
        put(f"huge{side}.png", huge, "huge-frame", "error")
        put(f"huge{side}-png.mkv", huge, "huge-frame", "error")
        put(f"huge{side}-cut.png", huge[:5000], "huge-frame", "error")
        put(f"huge{side}.y4m", f"YUV4MPEG2 W{side} H{side} F25:1 Ip A1:1 C420jpeg\nFRAME\n".encode() + b"\x80" * 100_000,
            "huge-frame", "error")
        sof = jpeg.find(b"\xff\xc0")
        big = jpeg[: sof + 5] + struct.pack(">HH", side, side) + jpeg[sof + 9 :]  # says side x side, has 96 x 64
        put(f"huge{side}-jpeg.mp4", big, "huge-frame", "error")
    # an MJPEG AVI whose every frame header says 15360 x 15360 (the container says 96 x 64)
    mjpeg = work / "mjpeg.avi"
    ffmpeg(*_lavfi_video(2), "-c:v", "mjpeg", "-pix_fmt", "yuvj420p", str(mjpeg))
    sof = b"\xff\xc0\x00\x11\x08" + struct.pack(">HH", 64, 96)
    data = mjpeg.read_bytes()
    assert data.count(sof) >= 10, "no MJPEG frame headers found"
    put("huge15360-mjpeg.avi", data.replace(sof, sof[:5] + struct.pack(">HH", 15360, 15360)), "huge-frame", "error")

    # one frame
    for ext, codec in ((".mp4", ["-c:v", "libx264", "-pix_fmt", "yuv420p"]), (".mkv", ["-c:v", "libx264"]),
                       (".webm", ["-c:v", "libvpx"]), (".avi", ["-c:v", "mpeg4"]), (".mov", ["-c:v", "libx264"]),
                       (".gif", [])):
        p = folder / f"oneframe{ext}"
        ffmpeg("-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25", "-frames:v", "1", *codec, str(p))
        keep(p, "one-frame", "ok")

    # one keyframe, then P-frames only: an hour at 1 frame/s (32x32), and 3 minutes at 5 frames/s
    one_gop = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
               "-x264-params", "keyint=infinite:min-keyint=infinite:scenecut=0", "-bf", "0"]
    hour = folder / "hour-one-keyframe.mp4"
    ffmpeg("-f", "lavfi", "-t", "3600", "-i", "testsrc2=size=32x32:rate=1", *one_gop, str(hour))
    keep(hour, "no-keyframes", "ok")
    minutes = folder / "minutes-one-keyframe.mkv"
    ffmpeg("-f", "lavfi", "-t", "180", "-i", "testsrc2=size=64x48:rate=5", *one_gop, str(minutes))
    keep(minutes, "no-keyframes", "ok")

    # audio only, under audio and video names
    for name, args in (("tone.m4a", ["-c:a", "aac"]), ("tone.mp4", ["-c:a", "aac"]), ("tone.mkv", ["-c:a", "flac"]),
                       ("tone.avi", ["-c:a", "pcm_s16le"]), ("tone.webm", ["-c:a", "libopus"]),
                       ("tone.wav", ["-c:a", "pcm_s16le"])):
        p = folder / name
        ffmpeg(*_lavfi_audio(2), *args, str(p))
        keep(p, "audio-only", "error")

    # dozens of streams: the same input mapped many times
    many = folder / "streams48.mkv"
    ffmpeg("-i", str(bases[".mkv"]), *sum((["-map", "0:v", "-map", "0:a"] for _ in range(24)), []), "-c", "copy",
           str(many))
    keep(many, "many-streams", "ok")
    many = folder / "streams32.mp4"
    ffmpeg("-i", str(bases[".mov"]), *sum((["-map", "0:v"] for _ in range(16)), []),
           *sum((["-map", "0:a"] for _ in range(16)), []), "-c", "copy", str(many))
    keep(many, "many-streams", "ok")
    many = folder / "audio40.mkv"
    ffmpeg("-i", str(bases[".mkv"]), *sum((["-map", "0:a"] for _ in range(40)), []), "-c", "copy", str(many))
    keep(many, "many-streams", "error")  # forty audio streams and no picture

    # flipped bits and splices over the real containers' bytes (seeded)
    for ext, data in raw.items():
        for i in range(6):
            buf = bytearray(data)
            for _ in range(rng.choice((1, 8, 64))):
                pos = rng.randrange(len(buf))
                buf[pos] ^= 1 << rng.randrange(8)
            put(f"flip{i}{ext}", bytes(buf), "bit-flips", "either")
        for i in range(3):
            other = raw[rng.choice(EXTENSIONS)]
            a, b = sorted(rng.sample(range(len(data)), 2))
            c = rng.randrange(len(other))
            put(f"splice{i}{ext}", data[:a] + other[c : c + (b - a)] + data[b:], "splices", "either")
        buf = bytearray(data)
        mid = len(buf) // 3
        buf[mid : mid + len(buf) // 3] = bytes(len(buf) // 3)
        put(f"zeroed-middle{ext}", bytes(buf), "zeroed-middle", "either")

    # not a regular file at all, under video names
    import os

    (folder / "folder.mp4").mkdir()
    keep(folder / "folder.mp4", "not-a-file", "error")
    os.mkfifo(folder / "pipe.mp4")  # opening a FIFO for reading blocks until a writer comes: never open it
    keep(folder / "pipe.mp4", "not-a-file", "error")
    (folder / "dangling.mp4").symlink_to(folder / "no-such-target.mp4")
    keep(folder / "dangling.mp4", "not-a-file", "error")
    return cases
