"""The ``vidsearch`` command."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from vidsearch.config import ConfigError, Settings
from vidsearch.index.lock import StoreLocked
from vidsearch.media.errors import MediaError


def parse_time(text: str) -> float:
    """Seconds (``90``, ``90.5``) or ``[HH:]MM:SS[.fff]`` in video time."""
    try:
        parts = [float(p) for p in text.split(":")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not seconds or HH:MM:SS") from None
    if not 1 <= len(parts) <= 3 or any(p < 0 for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r} is not seconds or HH:MM:SS")
    seconds = 0.0
    for p in parts:
        seconds = seconds * 60 + p
    return seconds


def parse_region(text: str) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not x,y,w,h in pixels") from None
    if w <= 0 or h <= 0 or x < 0 or y < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: width and height must be positive, x and y not negative")
    return x, y, w, h


def fmt_time(t: float) -> str:
    m, s = divmod(max(t, 0.0), 60)
    h, m = divmod(int(m), 60)
    return f"{h:d}:{m:02d}:{s:06.3f}" if h else f"{m:d}:{s:06.3f}"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vidsearch", description="Find moments in your videos by image.")
    p.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = p.add_subparsers(dest="command", required=True)

    ing = sub.add_parser("ingest", help="index video files or folders (recursive); skips what is indexed")
    ing.add_argument("paths", nargs="+")
    ing.add_argument("--force", action="store_true", help="re-index even when already indexed")
    ing.add_argument("--json", action="store_true", help="print one JSON object with every file's result")

    se = sub.add_parser("search", help="find the moments that match a query")
    q = se.add_mutually_exclusive_group(required=True)
    q.add_argument("--image", type=Path, help="a still image (JPEG, PNG, ...)")
    se.add_argument("--limit", type=int, default=10)
    se.add_argument("--video", dest="video_id", help="only this video id")
    se.add_argument("--after", type=parse_time, help="only moments after this video time (s or HH:MM:SS)")
    se.add_argument("--before", type=parse_time, help="only moments before this video time")
    se.add_argument("--region", type=parse_region, help="x,y,w,h: search only this part of the query")
    se.add_argument("--json", action="store_true")

    vi = sub.add_parser("videos", help="list indexed videos with their status")
    vi.add_argument("--json", action="store_true")

    de = sub.add_parser("delete", help="remove a video from the index")
    de.add_argument("video_id")

    sv = sub.add_parser("serve", help="start the web UI and REST API")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--threads", type=int, default=8)
    return p


def _progress_factory(enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    def factory(path: Path):
        bar = tqdm(total=0, unit="s", desc=path.name[:40], leave=False, file=sys.stderr,
                   bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}]")

        def update(done: float, duration: float) -> None:
            bar.total = duration
            bar.n = done
            bar.refresh()
            if done >= duration:
                bar.close()

        return update

    return factory


def cmd_ingest(lib, args) -> int:
    results = []
    progress = _progress_factory(not args.json and sys.stderr.isatty())
    for r in lib.ingest(args.paths, force=args.force, progress=progress):
        results.append(r)
        if args.json:
            continue
        if r.status == "indexed":
            wall = sum(r.times.values()) or 1e-9
            print(f"indexed  {r.video_id}  {r.path}  ({r.duration:.1f} s of video, {r.keyframes} keyframes, "
                  f"{r.segments} segments, {r.duration / wall:.1f}x real time)")
        elif r.status == "skipped":
            print(f"skipped  {r.video_id}  {r.path}  (already indexed)")
        else:
            print(f"FAILED   {r.error}", file=sys.stderr)
    if args.json:
        print(json.dumps({"results": [r.to_dict() for r in results]}, indent=2))
    if not results:
        print("no video files found", file=sys.stderr)
        return 1
    return 1 if any(r.status == "failed" for r in results) else 0


def cmd_search(lib, args) -> int:
    from vidsearch.media.image import load_image

    image = load_image(args.image)
    moments = lib.search_image(image, limit=args.limit, video_id=args.video_id, after=args.after,
                               before=args.before, region=args.region)
    if args.json:
        print(json.dumps({"results": [m.to_dict() for m in moments]}, indent=2))
        return 0
    if not moments:
        print("no matching moments")
    for i, m in enumerate(moments, 1):
        print(f"{i:2d}. {m.score:.3f}  {Path(m.path).name}  {fmt_time(m.start)}-{fmt_time(m.end)}  "
              f"best {fmt_time(m.timestamp)}  [{m.video_id}]")
    return 0


def cmd_videos(lib, args) -> int:
    videos = lib.videos()
    if args.json:
        print(json.dumps({"videos": [v.to_dict() for v in videos]}, indent=2))
        return 0
    if not videos:
        print("no videos indexed yet: vidsearch ingest PATH")
    for v in videos:
        dur = f"{v.duration:8.1f} s" if v.duration else "         "
        line = f"{v.id}  {v.status:9s} {dur}  {v.frames:6d} frames  {v.path}"
        print(line + (f"\n    error: {v.error}" if v.error else ""))
    return 0


def cmd_delete(lib, args) -> int:
    if lib.delete(args.video_id):
        print(f"deleted {args.video_id}")
        return 0
    print(f"no video with id {args.video_id}", file=sys.stderr)
    return 1


def cmd_serve(settings: Settings, args) -> int:
    from web.server import serve

    serve(settings, host=args.host, port=args.port, threads=args.threads)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
        if args.command == "serve":
            return cmd_serve(settings, args)
        from vidsearch.library import Library

        with Library(settings) as lib:
            return {"ingest": cmd_ingest, "search": cmd_search, "videos": cmd_videos,
                    "delete": cmd_delete}[args.command](lib, args)
    except (ConfigError, StoreLocked, MediaError, ValueError) as exc:
        print(f"vidsearch: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
