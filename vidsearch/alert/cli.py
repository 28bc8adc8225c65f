"""``vidsearch watchlist add|list|rm|backtest|mark`` and ``vidsearch alerts``.

They open the data folder's library; while a server holds it, they work through its API
(/api/v1/watchlists, :mod:`vidsearch.alert.remote`) and print the same.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vidsearch.query import parse_region


def _moment(text: str) -> dict:
    """``VIDEO_ID:START-END`` (seconds)."""
    try:
        vid, span = text.rsplit(":", 1)
        start, end = (float(x) for x in span.split("-"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not VIDEO_ID:START-END (seconds)") from None
    return {"video_id": vid, "start": start, "end": end}


def add_parsers(sub) -> None:
    wl = sub.add_parser("watchlist", help="standing queries that alert on newly indexed footage (docs/watchlists.md)")
    wc = wl.add_subparsers(dest="watchlist_command", required=True)
    add = wc.add_parser("add", help="create a watchlist")
    add.add_argument("name")
    q = add.add_mutually_exclusive_group(required=True)
    q.add_argument("--image", type=Path)
    q.add_argument("--clip", type=Path)
    q.add_argument("--text")
    q.add_argument("--example", type=_moment, action="append", dest="examples",
                   help="VIDEO_ID:START-END, an example moment (repeat); the name becomes a taught word")
    add.add_argument("--negative", type=_moment, action="append", dest="negatives", help="VIDEO_ID:START-END")
    add.add_argument("--method", choices=("probe", "prototype"), default="probe")
    add.add_argument("--region", type=parse_region, help="x,y,w,h of the image")
    add.add_argument("--threshold", type=float, help="default: the query kind's calibrated floor")
    add.add_argument("--camera")
    add.add_argument("--hours", help="HH:MM-HH:MM of the recording's wall-clock time (VIDSEARCH_TIMEZONE)")
    add.add_argument("--webhook", help="URL that each alert is POSTed to (VIDSEARCH_WEBHOOK_HOSTS)")
    ls = wc.add_parser("list", help="the watchlists")
    ls.add_argument("--json", action="store_true")
    rm = wc.add_parser("rm", help="remove a watchlist and its alerts")
    rm.add_argument("name")
    bt = wc.add_parser("backtest", help="what a watchlist would have alerted on over what is indexed")
    bt.add_argument("name")
    bt.add_argument("--json", action="store_true")
    mk = wc.add_parser("mark", help="mark an alert right or wrong (re-fits the threshold)")
    mk.add_argument("name")
    mk.add_argument("alert_id", type=int)
    mk.add_argument("verdict", choices=("right", "wrong"))
    al = sub.add_parser("alerts", help="alerts of the watchlists, newest first")
    al.add_argument("--watchlist")
    al.add_argument("--limit", type=int, default=50)
    al.add_argument("--json", action="store_true")


def run(lib, args) -> int:
    try:
        return _run(lib, args)
    except KeyError as exc:
        print(f"vidsearch: error: no watchlist named {exc.args[0]!r}", file=sys.stderr)
        return 1


def _run(lib, args) -> int:
    w = lib.watchlists
    if args.command == "alerts":
        alerts = w.alerts(watchlist=args.watchlist, limit=args.limit)
        if args.json:
            print(json.dumps({"alerts": [a.to_dict() for a in alerts]}, indent=2))
        for a in [] if args.json else alerts:
            print(f"{a.id:5d}  {a.watchlist}  {a.video_id}  {a.timestamp:8.2f}s  ({a.start:.1f}-{a.end:.1f})  "
                  f"{a.score:.3f} {a.confidence}  {a.path}")
        return 0
    cmd = args.watchlist_command
    if cmd == "add":
        kind = "clip" if args.clip else "text" if args.text else "examples" if args.examples else "image"
        made = w.add(args.name, kind, image=str(args.image) if args.image else None, region=args.region,
                     clip=args.clip, text=args.text, examples=args.examples, negatives=args.negatives,
                     threshold=args.threshold, camera=args.camera, hours=args.hours, webhook=args.webhook,
                     method=args.method)
        print(f"added watchlist {made.name!r} ({made.kind}, threshold {made.threshold:.3f})")
        return 0
    if cmd == "list":
        rows = [w.describe(x) for x in w.list()]
        if args.json:
            print(json.dumps({"watchlists": rows}, indent=2))
        for d in [] if args.json else rows:
            p = d["marks"]["precision"]
            print(f"{d['name']}  {d['kind']}  threshold {d['threshold']:.3f} ({d['threshold_source']})  "
                  f"{d['alerts']} alerts  precision {'-' if p is None else f'{p:.2f}'}"
                  + (f"  webhook: {d['delivery']}" if d.get("delivery") else ""))
        return 0
    if cmd == "rm":
        if not w.remove(args.name):
            print(f"vidsearch: error: no watchlist named {args.name!r}", file=sys.stderr)
            return 1
        print(f"removed {args.name!r}")
        return 0
    if cmd == "mark":
        d = w.mark(args.name, right=args.verdict == "right", alert_id=args.alert_id)
        print(f"{args.name!r}: threshold {d['threshold']:.3f}, precision {d['marks']['precision']}")
        return 0
    out = w.backtest(args.name)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    for m in out["matches"]:
        print(f"{m['day']}  {m['video_id']}  {m['timestamp']:8.2f}s  {m['score']:.3f}  {m['path']}")
    print(f"{out['total']} matches; per day: {out['per_day']}")
    return 0
