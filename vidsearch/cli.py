"""The ``vidsearch`` command."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from vidsearch.config import ConfigError, Settings
from vidsearch.diskspace import LowDiskSpace
from vidsearch.index.lock import StoreLocked
from vidsearch.media.errors import MediaError
from vidsearch.query import WallTime, parse_region, parse_time, parse_time_of_day, parse_when
from vidsearch.remote import RemoteError


def fmt_time(t: float) -> str:
    m, s = divmod(max(t, 0.0), 60)
    h, m = divmod(int(m), 60)
    return f"{h:d}:{m:02d}:{s:06.3f}" if h else f"{m:d}:{s:06.3f}"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vidsearch", description="Find moments in your videos by image.")
    p.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = p.add_subparsers(dest="command", required=True)

    ing = sub.add_parser("ingest", help="index video files or folders (recursive); skips what is indexed; "
                         "first finishes the videos an interrupted run left unfinished")
    ing.add_argument("paths", nargs="*")
    ing.add_argument("--resume", action="store_true",
                     help="finish the videos an interrupted run (a crash, kill -9) left unfinished; no paths needed "
                          "(done anyway with the embedded store; with a Qdrant server only when asked)")
    ing.add_argument("--force", action="store_true", help="re-index even when already indexed")
    ing.add_argument("--json", action="store_true", help="print one JSON object with every file's result")

    se = sub.add_parser("search", help="find the moments that match a query")
    q = se.add_mutually_exclusive_group(required=True)
    q.add_argument("--image", type=Path, help="a still image (JPEG, PNG, ...)")
    q.add_argument("--clip", type=Path, help="a video clip: where does its footage appear?")
    q.add_argument("--text", help='free text: "a dog on a skateboard", "EXIT sign", "red car" (README: Text search)')
    se.add_argument("--limit", type=int, default=10)
    se.add_argument("--offset", type=int, default=0, help="skip this many results (the next page)")
    se.add_argument("--sort", choices=("score", "time"), default="score",
                    help="score (best first) or time (wall-clock where known, else video then time)")
    se.add_argument("--include-weak", action="store_true",
                    help="also the results below the no-match floor, marked 'weak' (docs/moments.md)")
    se.add_argument("--video", dest="video_id", help="only this video id")
    se.add_argument("--after", type=parse_when, help="only moments after this video time (s or HH:MM:SS), "
                    "or a date-time (YYYY-MM-DDTHH:MM) for recordings whose start is known")
    se.add_argument("--before", type=parse_when, help="only moments before this video time (or date-time)")
    se.add_argument("--camera", help="only recordings of this camera (vidsearch watch --camera)")
    se.add_argument("--time-of-day", type=parse_time_of_day, metavar="HH:MM-HH:MM",
                    help="only moments recorded at this time of day on any day (22:00-06:00 wraps midnight; "
                         "VIDSEARCH_TIMEZONE); recordings whose start is known")
    se.add_argument("--region", type=parse_region, help="x,y,w,h: search only this part of the query")
    se.add_argument("--refine", action=argparse.BooleanOptionalAction, default=True,
                    help="with --image: re-check the best moment's timestamp against the decoded video (on by "
                    "default, as in the API: VIDSEARCH_IMAGE_REFINE)")
    se.add_argument("--semantic", action="store_true", help="with --image: similar content (a CLIP-family model "
                    "when VIDSEARCH_JOINT_MODEL is set, else EfficientNet features), not copies of the picture")
    se.add_argument("--json", action="store_true")

    vi = sub.add_parser("videos", help="list indexed videos with their status")
    vi.add_argument("--json", action="store_true")

    de = sub.add_parser("delete", help="remove a video from the index")
    de.add_argument("video_id")

    ex = sub.add_parser("export", help="save a span of a video as an MP4 clip, or one instant as a JPEG still")
    ex.add_argument("video_id")
    ex.add_argument("--start", type=parse_time, help="start of the clip (s or [H:]MM:SS)")
    ex.add_argument("--end", type=parse_time, help="end of the clip (s or [H:]MM:SS)")
    ex.add_argument("--at", type=parse_time, help="a still instead: the frame at this time (JPEG)")
    ex.add_argument("-o", "--output", type=Path, required=True, help="the file to write (.mp4, or .jpg with --at)")

    dd = sub.add_parser("dedup", help="find copied footage: of a clip in the index, or among all indexed videos")
    dq = dd.add_mutually_exclusive_group(required=True)
    dq.add_argument("--clip", type=Path, help="a video clip: where does its footage already exist?")
    dq.add_argument("--all", action="store_true", help="every pair of spans sharing footage, across and within videos")
    fmt = dd.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--csv", action="store_true")

    sn = sub.add_parser("snapshot", help="back up or restore the index (vectors, catalog, thumbnails) as one file")
    snc = sn.add_subparsers(dest="snapshot_command", required=True)
    sc = snc.add_parser("create", help="write <data>/snapshots/NAME.tar (stop a running server first)")
    sc.add_argument("--name", help="default: snapshot-<UTC date-time>")
    sc.add_argument("--json", action="store_true")
    sl = snc.add_parser("list", help="the snapshots in <data>/snapshots")
    sl.add_argument("--json", action="store_true")
    sr = snc.add_parser("restore", help="put a snapshot into VIDSEARCH_DATA_DIR (which must hold no index)")
    sr.add_argument("snapshot", help="a name from `snapshot list`, or the path of a snapshot file")
    sr.add_argument("--force", action="store_true", help="replace the index the data folder holds")

    sv = sub.add_parser("serve", help="start the web UI and REST API")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--threads", type=int, default=8)

    from vidsearch.alert.cli import add_parsers as _watchlist_parsers

    _watchlist_parsers(sub)

    from vidsearch.models.train_temporal import add_arguments as _train_temporal_arguments

    _train_temporal_arguments(sub.add_parser(
        "train-temporal", help="train the temporal segment encoder on video folders (docs/temporal.md)"))

    from workers.cli import add_parsers as _distributed_parsers  # worker, jobs, watch; ingest --wait

    _distributed_parsers(sub, ing)
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
    # what a killed run left `indexing` goes first: always when this process owns the data folder (nobody
    # else can be indexing), with a Qdrant server only when asked; a running server resumes its own at start
    resume = getattr(lib, "resume", None)
    wanted = args.resume or getattr(lib, "owns_folder", False)
    resumed = resume(progress=progress) if resume is not None and wanted else iter(())
    import itertools

    for r in itertools.chain(resumed, lib.ingest(args.paths, force=args.force, progress=progress)):
        results.append(r)
        if args.json:
            continue
        if r.status == "indexed":
            wall = r.times.get("total") or sum(r.times.values()) or 1e-9
            print(f"indexed  {r.video_id}  {r.path}  ({r.duration:.1f} s of video, {r.keyframes} keyframes, "
                  f"{r.segments} segments, {r.duration / wall:.1f}x real time)")
        elif r.status == "skipped":
            print(f"skipped  {r.video_id}  {r.path}  (already indexed)")
        else:
            print(f"FAILED   {r.error}", file=sys.stderr)
    if args.json:
        print(json.dumps({"results": [r.to_dict() for r in results]}, indent=2))
    if not results:
        if not args.paths:
            print("nothing to resume: no video was left unfinished", file=sys.stderr)
            return 0
        print("no video files found", file=sys.stderr)
        return 1
    return 1 if any(r.status == "failed" for r in results) else 0


def cmd_search(lib, args) -> int:
    from vidsearch.media.image import load_image

    walls = {n: float(v) for n, v in (("wall_after", args.after), ("wall_before", args.before))
             if isinstance(v, WallTime)}
    after = None if isinstance(args.after, WallTime) else args.after
    before = None if isinstance(args.before, WallTime) else args.before
    page = {"limit": args.limit, "offset": args.offset, "include_weak": args.include_weak, "sort": args.sort}
    scope = dict(camera=getattr(args, "camera", None), time_of_day=getattr(args, "time_of_day", None), **walls)
    if any(v is not None for v in scope.values()):
        page["where"] = lib.where(**scope)
    if getattr(args, "text", None) is not None:
        if args.region is not None:
            raise ValueError("--region applies to --image queries only")
        if not hasattr(lib, "search_text"):
            raise ValueError("text search is not available through the running server; stop it or use its API")
        moments = lib.search_text(args.text, video_id=args.video_id, after=after, before=before, **page)
    elif args.clip is not None:
        if args.region is not None:
            raise ValueError("--region applies to --image queries only")
        moments = lib.search_clip(args.clip, video_id=args.video_id, after=after, before=before, **page)
    else:
        image = load_image(args.image)
        if getattr(args, "semantic", False):
            if args.region is not None:
                x, y, w, h = args.region
                image = image[y:y + h, x:x + w]
            moments = lib.search_image_semantic(image, video_id=args.video_id, after=after,
                                                before=before, **page)
        else:
            moments = lib.search_image(image, video_id=args.video_id, after=after, before=before,
                                       region=args.region, refine=getattr(args, "refine", None), **page)
    weak, more = getattr(moments, "weak", 0), getattr(moments, "next_offset", None)
    if args.json:
        print(json.dumps({"results": [m.to_dict() for m in moments], "weak": weak, "next_offset": more}, indent=2))
        return 0
    if not moments:
        print("no matching moments")
    for i, m in enumerate(moments, 1 + args.offset):
        where = (f"clip {fmt_time(m.extra['query_start'])}-{fmt_time(m.extra['query_end'])}"
                 if "query_start" in m.extra else f"best {fmt_time(m.timestamp)}")
        sure = f"  ({m.extra['confidence']})" if m.extra.get("confidence") else ""
        print(f"{i:2d}. {m.score:.3f}  {Path(m.path).name}  {fmt_time(m.start)}-{fmt_time(m.end)}  "
              f"{where}  [{m.video_id}]{sure}")
        if m.extra.get("why"):
            print(f"      why: {'; '.join(m.extra['why'])}")
    if weak and not args.include_weak:
        print(f"({weak} weak result{'s' if weak != 1 else ''} below the no-match floor left out: --include-weak shows them)")
    if more is not None:
        print(f"(more: --offset {more})")
    return 0


DEDUP_CSV = ["query_video_id", "query_path", "query_start", "query_end", "video_id", "path", "ref_start", "ref_end",
             "score"]


def _dedup_progress(done: int, total: int) -> None:
    print(f"\r{done}/{total} videos", end="" if done < total else "\n", file=sys.stderr, flush=True)


def cmd_dedup(lib, args) -> int:
    if args.all:
        quiet = args.json or args.csv or not sys.stderr.isatty()
        matches = lib.dedup_all(progress=None if quiet else _dedup_progress)
    else:
        matches = lib.dedup_clip(args.clip)
    if args.json:
        print(json.dumps({"matches": [m.to_dict() for m in matches]}, indent=2))
        return 0
    if args.csv:
        import csv

        w = csv.DictWriter(sys.stdout, fieldnames=DEDUP_CSV, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for m in matches:
            w.writerow({"query_video_id": m.query_video_id or "", "query_path": m.query_path or str(args.clip),
                        **m.to_dict()})
        return 0
    if not matches:
        print("no copies found")
    for m in matches:
        source = f"{Path(m.query_path).name} " if m.query_path else "clip "
        print(f"{m.score:.3f}  {source}{fmt_time(m.query_start)}-{fmt_time(m.query_end)}  =  {Path(m.path).name} "
              f"{fmt_time(m.ref_start)}-{fmt_time(m.ref_end)}  [{m.video_id}]")
    return 0


def cmd_videos(lib, args) -> int:
    low = getattr(lib, "disk_warning", lambda: None)()
    if low:
        print(f"vidsearch: {low}", file=sys.stderr)
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


def cmd_export(lib, args) -> int:
    if args.at is not None:
        if args.start is not None or args.end is not None:
            raise ValueError("give either --at (a still) or --start and --end (a clip), not both")
        jpeg, stamp = lib.export_frame(args.video_id, args.at)
        tmp = args.output.with_name(f".{args.output.name}.part")
        tmp.write_bytes(jpeg)
        tmp.replace(args.output)
        print(f"wrote {args.output}  (the frame at {fmt_time(stamp)}, {len(jpeg) / 1e3:.0f} kB)")
        return 0
    if args.start is None or args.end is None:
        raise ValueError("export needs --start and --end (a clip), or --at (a still)")
    result = lib.export_clip(args.video_id, args.start, args.end, args.output)
    how = "stream copy" if result.plan.mode == "copy" else "transcoded"
    print(f"wrote {args.output}  ({fmt_time(result.plan.start)}-{fmt_time(args.end)}, {how}, "
          f"{result.path.stat().st_size / 1e6:.1f} MB in {result.seconds:.1f} s)")
    return 0


def cmd_delete(lib, args) -> int:
    if lib.delete(args.video_id):
        print(f"deleted {args.video_id}")
        return 0
    print(f"no video with id {args.video_id}", file=sys.stderr)
    return 1


def _counts(manifest: dict) -> str:
    c = manifest.get("counts") or {}
    return f"{c.get('videos', 0)} videos, {c.get('frames', 0)} frames, {c.get('segments', 0)} segments"


def cmd_snapshot(settings: Settings, args) -> int:
    """Snapshots work on the data folder itself, never through a running server (vidsearch/snapshot.py)."""
    from vidsearch import snapshot as snap

    if args.snapshot_command == "create":
        info = snap.create_snapshot(settings, name=args.name)
        if args.json:
            print(json.dumps(info.to_dict(), indent=2))
        else:
            print(f"created  {info.name}  {info.path}  ({_counts(info.manifest)}, {info.size / 1e6:.1f} MB)")
        return 0
    if args.snapshot_command == "list":
        found = snap.list_snapshots(settings)
        if args.json:
            print(json.dumps({"snapshots": [f.to_dict() if isinstance(f, snap.SnapshotInfo)
                                            else {"path": str(f[0]), "error": f[1]} for f in found]}, indent=2))
            return 0
        if not found:
            print(f"no snapshots in {snap.snapshots_dir(settings)}: vidsearch snapshot create")
        for f in found:
            if isinstance(f, snap.SnapshotInfo):
                print(f"{f.name}  {f.manifest.get('created')}  {_counts(f.manifest)}  {f.size / 1e6:.1f} MB  "
                      f"vidsearch {f.manifest.get('vidsearch_version')}")
            else:
                print(f"{f[0].name}  UNREADABLE: {f[1]}")
        return 0
    info = snap.restore_snapshot(settings, args.snapshot, force=args.force)
    print(f"restored {info.name} into {settings.data_dir} ({_counts(info.manifest)})")
    return 0


def cmd_serve(settings: Settings, args) -> int:
    from web.server import serve

    serve(settings, host=args.host, port=args.port, threads=args.threads)
    return 0


def _distributed_jobs(settings: Settings):
    """The workers' job records when a broker is configured (imported only then)."""
    if not settings.broker_url:
        return None
    from workers.owner import library_jobs

    return library_jobs(settings)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
        if args.command == "serve":
            return cmd_serve(settings, args)
        if args.command == "snapshot":
            from vidsearch.snapshot import SnapshotError

            try:
                return cmd_snapshot(settings, args)
            except SnapshotError as exc:
                print(f"vidsearch: error: {exc}", file=sys.stderr)
                return 2
        if args.command == "train-temporal":
            from vidsearch.models.train_temporal import run_cli

            return run_cli(settings, args)
        if args.command == "ingest" and not args.paths and not args.resume:
            raise ValueError("ingest needs PATH arguments (or --resume to finish an interrupted run)")
        from workers.cli import handles as _distributed, run as _run_distributed

        if _distributed(args, settings):  # a broker is configured, or worker/jobs/watch
            return _run_distributed(settings, args)
        from vidsearch.library import Library

        try:
            lib = Library(settings, jobs=_distributed_jobs(settings))
        except StoreLocked as locked:  # a server owns the store: work through its API (vidsearch/remote.py)
            from vidsearch.remote import connect

            lib = connect(settings, locked)
        with lib:
            if args.command in ("watchlist", "alerts"):
                from vidsearch.alert.cli import run as _watchlists

                return _watchlists(lib, args)
            return {"ingest": cmd_ingest, "search": cmd_search, "videos": cmd_videos,
                    "delete": cmd_delete, "dedup": cmd_dedup, "export": cmd_export}[args.command](lib, args)
    except (ConfigError, StoreLocked, MediaError, ValueError, RemoteError, LowDiskSpace) as exc:
        print(f"vidsearch: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
