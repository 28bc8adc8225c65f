"""Videos and cuts for the clip-query and dedup tests (not a test module).

Synthetic footage comes from ffmpeg's lavfi generators. Which generators SSCD tells apart was
measured on single frames: different families (mandelbrot, life, testsrc2, gradients, sierpinski,
cellauto, colorspectrum, geq patterns) are at most ~0.4 alike. The indexed video the
transformations are tried on is made of :func:`inset_scene` shots. Within one family, generated
textures are not usable as "different footage": two ``cellauto`` rules align at a mean 0.65, two
mandelbrot zooms at up to 0.89 -- as alike as a heavily transformed real copy. The hard
look-alikes of the tests are therefore real clips (two dog clips, two clips of one NTU RGB+D room;
tests/search/test_dedup.py), and the never-indexed synthetic footage is of other families, the
nearest being another gradient (~0.33 alike) and a ring pattern (~0.4 to the gradients).
"""
from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import _need_ffmpeg

S = "s=320x240:r=25"


def inset_scene(x: float, y: float, hue: int, dx: int, dy: int) -> str:
    """A still mandelbrot view (detail in luminance and colour) under a moving test-pattern inset
    (what changes from second to second): synthetic footage that survives every transformation of
    the issue about as well as real footage does. Bare generators do not (colour bars and gradients
    lose almost everything in grayscale, a noise-like life board at a low bitrate), and a zoom is
    no good either: a 70% crop of a zooming shot looks like a moment a second later. The inset
    crosses the central 70% of the picture in 4 s (``dx``, ``dy`` = +-1: its direction), so a
    70% crop keeps it."""
    xs, ys = ("50+t*27", "158-t*27")[dx < 0], ("40+t*20", "120-t*20")[dy < 0]
    return (f"mandelbrot={S}:start_x={x}:start_y={y}:start_scale=0.3:end_scale=0.3:maxiter=150,"
            f"hue=h={hue}[bg];testsrc2=s=112x84:r=25[fg];[bg][fg]overlay=x='{xs}':y='{ys}'[out0]")


INSETS = [inset_scene(-0.743643, 0.131825, 0, 1, 1), inset_scene(-0.1011, 0.9563, 120, -1, -1),
          inset_scene(-1.25066, 0.02012, 240, 1, -1), inset_scene(0.285, 0.01, 60, -1, 1)]
SIERP = f"sierpinski={S}:seed=3"
CELL = f"cellauto={S}:rule=110:random_fill_ratio=0.5:seed=11:scroll=1"
SPECTRUM = f"colorspectrum={S}"
TESTSRC = f"testsrc={S}"
# never indexed
PLASMA = f"nullsrc={S},geq=r='128+127*sin(X/9+T*2)':g='128+127*sin(Y/7-T*1.5)':b='128+127*sin((X+Y)/11+T)'"
GRAD2 = f"gradients={S}:speed=0.05:n=4:seed=3:type=spiral"
RINGS = f"nullsrc={S},geq=lum='128+100*sin(hypot(X-160,Y-120)/6-T*3)':cb=128:cr='128+60*cos(X/20+T)'"

SCENE = 4.0  # seconds per scene

CAPTION = ("drawbox=x=0:y=ih*0.78:w=iw:h=ih*0.22:color=black@0.75:t=fill,"
           "drawtext=text='BREAKING NEWS':x=w*0.04:y=h*0.84:fontsize=h*0.08:fontcolor=white")
# the transformations: name -> (filter after the cut, encoder arguments, speed)
TRANSFORMS = {
    "plain": (None, [], 1.0),
    "lowbitrate": (None, ["-b:v", "100k", "-maxrate", "100k", "-bufsize", "100k"], 1.0),
    "240p": ("scale=-2:120", [], 1.0),  # the sources are 240 px: 120 px is the same factor as 480 -> 240
    "crop70": ("crop=trunc(iw*0.7/2)*2:trunc(ih*0.7/2)*2", [], 1.0),
    "letterbox": ("pad=iw:trunc(ih*1.4/2)*2:0:(oh-ih)/2:black", [], 1.0),
    "pillarbox": ("pad=trunc(iw*1.4/2)*2:ih:(ow-iw)/2:0:black", [], 1.0),
    "gray": ("format=gray", [], 1.0),
    "eq": ("eq=brightness=0.12:contrast=1.35:saturation=1.3", [], 1.0),
    "caption": ("drawbox=x=0:y=ih*0.78:w=iw:h=ih*0.22:color=black@0.75:t=fill", [], 1.0),
    "caption_text": (CAPTION, [], 1.0),
    "speed0.8": ("setpts=PTS/0.8", [], 0.8),
    "speed1.25": ("setpts=PTS/1.25", [], 1.25),
    "fps12": ("fps=12", [], 1.0),
}


def scenes(path: Path, graphs: list[str], seconds: float = SCENE) -> Path:
    """A 320x240 25 fps H.264 video of hard-cut scenes, one lavfi source graph each."""
    cmd = [_need_ffmpeg(), "-v", "error", "-y"]
    for g in graphs:
        cmd += ["-f", "lavfi", "-t", str(seconds), "-i", g]
    n = len(graphs)
    graph = "".join(f"[{i}:v]format=yuv420p,setsar=1[v{i}];" for i in range(n))
    graph += "".join(f"[v{i}]" for i in range(n)) + f"concat=n={n}:v=1:a=0[out]"
    cmd += ["-filter_complex", graph, "-map", "[out]", "-c:v", "libx264", "-preset", "veryfast", "-r", "25", str(path)]
    subprocess.run(cmd, check=True)
    return path


def cut(src: Path, start: float, duration: float, out: Path, transform: str = "plain", *,
        before: Path | None = None, after: Path | None = None, fill: float = 2.5) -> Path:
    """``duration`` seconds of ``src`` from ``start`` under ``transform``; with ``before``/``after``,
    ``fill`` seconds of that other video are joined in front of / behind the cut (partial overlap)."""
    vf, enc, _ = TRANSFORMS[transform]
    chain = f"trim=start={start}:duration={duration},setpts=PTS-STARTPTS" + (f",{vf}" if vf else "")
    cmd = [_need_ffmpeg(), "-v", "error", "-y", "-i", str(src)]
    other = before or after
    if other is None:
        graph = f"[0:v]{chain},format=yuv420p[out]"
    else:
        cmd += ["-i", str(other)]
        norm = "scale=320:240,setsar=1,fps=25,format=yuv420p"
        graph = (f"[0:v]{chain},{norm}[c];[1:v]trim=start=0.4:duration={fill},setpts=PTS-STARTPTS,{norm}[f];"
                 + ("[f][c]" if before is not None else "[c][f]") + "concat=n=2:v=1:a=0[out]")
    cmd += ["-filter_complex", graph, "-map", "[out]", "-an", "-c:v", "libx264", "-preset", "veryfast",
            "-pix_fmt", "yuv420p", *(enc or ["-crf", "23"]), str(out)]
    try:
        subprocess.run(cmd, check=True, capture_output=True)
    except subprocess.CalledProcessError:
        if transform != "caption_text":
            raise
        return cut(src, start, duration, out, "caption", before=before, after=after, fill=fill)  # no font here
    return out


def iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0
