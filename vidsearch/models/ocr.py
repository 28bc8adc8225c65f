"""Text on screen: Tesseract OCR (Debian ``tesseract-ocr``) on the parts of keyframes that look
like text, only when the picture changed.

Tesseract is expensive next to the encoders (0.4-0.7 s for a whole 224-px frame on one core), so
three gates keep it off most frames:

1. :class:`OcrGate` (per video): a keyframe is read only when its small grey thumbnail differs
   from the last frame that was read (mean absolute difference above ``change``), or its text
   regions moved, changed inside, or gained a box the last read frame did not have (a line typed
   into a dialog on a screen), so a caption that stays on screen through a shot is read once.
2. :func:`text_regions`: a cheap detector (morphological gradient, Otsu threshold, horizontal
   closing, box shape tests; about 1 ms per frame) finds text-like boxes; a frame without any is
   not read.
3. Only those boxes are read: cropped with a margin, upscaled (text in a 224-px frame is small;
   no box beyond :data:`MAX_LINE_PX` tall), grey, Otsu-thresholded, and read in one batch: by
   libtesseract in this process (:mod:`vidsearch.models.tesslib`, in a thread) or, where it does
   not load or ``VIDSEARCH_OCR_IN_PROCESS=0``, by ONE ``tesseract`` process (a list file, one page
   per crop); either way TSV output with a confidence per word, the same words. When the decoder also
   delivered a larger copy of the frame (``Frame.large``, ``VIDSEARCH_OCR_SIZE``), the boxes found
   on the small frame are cropped from that copy instead: the same region, with the detail the
   224-px scaling threw away. The crop is scaled so that it has the pixel size it would have had
   (``scale`` times the small frame's), but never below the copy's own pixels, so Tesseract reads
   about as many pixels as before unless the copy is larger than ``scale`` times the small frame.

Words with confidence below ``min_conf`` or without a letter or digit are dropped; what is left,
lower-cased, is the frame's ``text`` payload (Qdrant full-text index).

Limits: the text boxes are found on the 224-px samples, so a line shorter than about 6 px there
(about 20 px in a 720p source) is not even looked at; without the larger copy (``VIDSEARCH_OCR_SIZE=0``)
text shorter than about 8 px there (about 25 px in a 720p source) is found but not read. Stylised
titles and hand-written text mostly are not read either.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import ModelUnavailable

log = logging.getLogger(__name__)

INSTALL = "apt-get install tesseract-ocr"
# Tesseract scales each line to its own height; a taller crop only costs time. On 407 text boxes of
# seven shared clips the words stayed (2 gained), on busy texture Tesseract took 31% less CPU.
MAX_LINE_PX = 64
REAL_WORD = 3  # a read that finds no word this long counts as empty for the gate's back-off
_WORD = re.compile(r"[0-9A-Za-z]")


def tesseract_path() -> str:
    exe = shutil.which("tesseract")
    if exe is None:
        raise ModelUnavailable("tesseract-ocr", INSTALL, "text on screen (OCR)", "no 'tesseract' on PATH")
    return exe


def _gray(image: np.ndarray) -> np.ndarray:
    import cv2

    img = np.asarray(image)
    return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)


def _merge_line(boxes: list[list[int]]) -> list[list[int]]:
    """Merge boxes that sit on one line with a gap smaller than their height (letters -> words)."""
    boxes = sorted(boxes, key=lambda b: b[0])
    merged = True
    while merged:
        merged = False
        out: list[list[int]] = []
        for b in boxes:
            for o in out:
                top, bottom = max(o[1], b[1]), min(o[1] + o[3], b[1] + b[3])
                gap = max(o[0], b[0]) - min(o[0] + o[2], b[0] + b[2])
                similar = max(o[3], b[3]) < 2 * min(o[3], b[3])
                if similar and bottom - top > 0.6 * min(o[3], b[3]) and gap < 0.7 * max(o[3], b[3]):
                    x0, y0 = min(o[0], b[0]), min(o[1], b[1])
                    x1, y1 = max(o[0] + o[2], b[0] + b[2]), max(o[1] + o[3], b[1] + b[3])
                    o[:] = [x0, y0, x1 - x0, y1 - y0]
                    merged = True
                    break
            else:
                out.append(list(b))
        boxes = out
    return boxes


def text_regions(image: np.ndarray, *, max_regions: int = 6) -> list[tuple[int, int, int, int]]:
    """Boxes ``(x, y, w, h)`` that look like lines of text, largest first."""
    import cv2

    g = _gray(image)
    H, W = g.shape[:2]
    grad = cv2.morphologyEx(g, cv2.MORPH_GRADIENT, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    _, bw = cv2.threshold(grad, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    if float(bw.mean()) > 0.45 * 255:  # texture everywhere: nothing stands out as text
        return []
    joined = cv2.morphologyEx(bw, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (max(5, W // 40), 1)))
    contours, _ = cv2.findContours(joined, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    parts = []
    for c in contours:
        x, y, w, h = cv2.boundingRect(c)
        if 6 <= h <= H // 3 and 2 <= w <= 0.98 * W:
            parts.append([x, y, w, h])
    if len(parts) > 400:  # clutter, not text
        return []
    boxes = []
    for x, y, w, h in _merge_line(parts):
        if w < max(12, int(1.2 * h)) or w > 0.98 * W:
            continue
        fill = float(bw[y:y + h, x:x + w].mean()) / 255
        if not 0.2 <= fill <= 0.85:
            continue
        boxes.append((x, y, w, h))
    boxes.sort(key=lambda b: -b[2] * b[3])
    return boxes[:max_regions]


def region(image: np.ndarray, box: tuple[int, int, int, int], large: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """The pixels of ``box`` (found on ``image``) with a margin of half its height, and how many
    times larger than in ``image`` they are. With ``large`` (the same picture, bigger) they come
    from there: the box is mapped onto it."""
    x, y, w, h = box
    m = max(3, h // 2)
    x0, y0, x1, y1 = max(0, x - m), max(0, y - m), min(image.shape[1], x + w + m), min(image.shape[0], y + h + m)
    if large is not None and large.shape[0] > image.shape[0]:
        fy, fx = large.shape[0] / image.shape[0], large.shape[1] / image.shape[1]
        return large[int(y0 * fy): int(round(y1 * fy)), int(x0 * fx): int(round(x1 * fx))], fy
    return image[y0:y1, x0:x1], 1.0


def boxes_to_read(images: list[np.ndarray], regions: list[list[tuple[int, int, int, int]]] | None = None,
                  large: list[np.ndarray | None] | None = None):
    """``(index, image, box, larger copy or None)`` for every box to read: ``regions[i]`` of
    ``images[i]`` (default: :func:`text_regions`, found on it), with ``large[i]`` where given. Both
    OCR engines read what this yields."""
    for i, img in enumerate(images):
        big = large[i] if large is not None else None
        for box in (regions[i] if regions is not None else text_regions(img)):
            yield i, img, box, big


def _crop(image: np.ndarray, box: tuple[int, int, int, int], scale: float, large: np.ndarray | None = None) -> np.ndarray:
    """The box of ``image`` (margin included) ready for Tesseract: ``scale`` times its size in
    ``image``, but a box no taller than :data:`MAX_LINE_PX` for that (never below its own size).
    With ``large`` (the same picture, bigger) the pixels come from there: the box is mapped onto
    it, and it is resized to the same size, or left at its own size if that is larger."""
    import cv2

    scale = min(scale, max(1.0, MAX_LINE_PX / box[3]))
    pixels, factor = region(image, box, large)
    g = _gray(pixels)
    if factor > 1.0:
        scale = max(1.0, scale / factor)
    crop = g if scale == 1.0 else cv2.resize(g, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    _, bw = cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    if float(bw.mean()) < 127:  # Tesseract wants dark text on a light ground
        bw = 255 - bw
    return cv2.copyMakeBorder(bw, 8, 8, 8, 8, cv2.BORDER_CONSTANT, value=255)


def clean_words(words: list[tuple[str, float]], min_conf: float) -> list[str]:
    out = []
    for w, conf in words:
        w = w.strip().strip(".,;:!?'\"()[]{}|").lower()
        if conf < min_conf or len(w) < 2 or not _WORD.search(w):
            continue
        if sum(ch.isalnum() for ch in w) < 0.6 * len(w):
            continue
        out.append(w)
    return out


class OcrJob:
    """One Tesseract read of a batch of crops, started at once and collected by :meth:`result`, so
    that it reads while the caller embeds the same frames (a thread calling libtesseract, which
    releases the GIL, or a ``tesseract`` process: on a multi-core machine the two overlap)."""

    def __init__(self, reader: "TesseractReader", crops: list[np.ndarray], owner: list[int], n_images: int):
        self.reader, self.owner, self.n_images = reader, owner, n_images
        self.proc: subprocess.Popen | None = None
        self.tmp: tempfile.TemporaryDirectory | None = None
        self.thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._pages: list[str] | None = None
        self._error: BaseException | None = None
        if not crops:
            return
        if reader.engine is not None:
            self.thread = threading.Thread(target=self._read_in_process, args=(crops,), name="vidsearch-ocr", daemon=True)
            self.thread.start()
        else:
            self._start_process(crops)

    def _read_in_process(self, crops: list[np.ndarray]) -> None:
        try:
            self._pages = self.reader.engine.read(crops, time.monotonic() + self.reader.timeout, self._cancel)
        except BaseException as exc:  # noqa: BLE001  (reported by result())
            self._error = exc

    def _start_process(self, crops: list[np.ndarray]) -> None:
        import cv2

        reader = self.reader
        self.tmp = tempfile.TemporaryDirectory(prefix="vidsearch-ocr-")
        try:
            paths = []
            for i, c in enumerate(crops):
                path = os.path.join(self.tmp.name, f"{i:04d}.png")
                cv2.imwrite(path, c)
                paths.append(path)
            listing = Path(self.tmp.name) / "pages.txt"
            listing.write_text("\n".join(paths) + "\n")
            env = {**os.environ, "OMP_THREAD_LIMIT": "1"}  # one thread: it runs beside the encoders
            extra = [] if reader.retry_inverted else ["-c", "tessedit_do_invert=0"]
            self.proc = subprocess.Popen([reader.exe, str(listing), "-", "--psm", "6", "-l", reader.lang, *extra, "tsv"],
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        except BaseException:
            self.tmp.cleanup()
            raise

    def cancel(self) -> None:
        """Stop the run (the caller failed): no process, thread or temporary file is left behind."""
        if self.thread is not None:
            self._cancel.set()
            self.thread.join()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()
        if self.tmp is not None:
            self.tmp.cleanup()

    def result(self) -> list[str]:
        """The text of each image (lower-case words, may be ''); waits for Tesseract (bounded by the
        reader's timeout: a read that outlasts it is stopped and its text skipped)."""
        pages = self._library_pages() if self.thread is not None else self._program_pages()
        texts: list[list[str]] = [[] for _ in range(self.n_images)]
        for page, words in (pages or {}).items():
            if 0 <= page < len(self.owner):
                texts[self.owner[page]].extend(clean_words(words, self.reader.min_conf))
        return [" ".join(t) for t in texts]

    def _too_long(self) -> None:
        log.warning("tesseract took longer than %.0f s on %d crops; their text is skipped",
                    self.reader.timeout, len(self.owner))

    def _library_pages(self) -> dict[int, list[tuple[str, float]]] | None:
        self.thread.join()  # bounded: the engine stops at the reader's timeout
        if self._error is not None:
            log.warning("libtesseract failed on %d crops: %s", len(self.owner), self._error)
            return None
        if self._pages is None:
            return self._too_long()
        return {page: tsv_words(rows) for page, rows in enumerate(self._pages)}

    def _program_pages(self) -> dict[int, list[tuple[str, float]]] | None:
        if self.proc is None:
            return None
        try:
            try:
                out, err = self.proc.communicate(timeout=self.reader.timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.communicate()
                return self._too_long()
        finally:
            if self.proc.poll() is None:  # interrupted while waiting: leave no tesseract behind
                self.proc.kill()
                self.proc.wait()
            self.tmp.cleanup()
        if self.proc.returncode != 0:
            log.warning("tesseract failed (%s): %s", self.proc.returncode, err.strip()[-300:])
            return None
        return parse_tsv(out)


class TesseractReader:
    """``read(images) -> list[str]``: the text found in each image (lower-case words, may be '');
    ``start(images)`` runs the same read in the background and returns an :class:`OcrJob`.

    ``in_process``: read with libtesseract in this process (:mod:`vidsearch.models.tesslib`) where
    it loads, else with the ``tesseract`` program (``VIDSEARCH_OCR_IN_PROCESS``); the words are the
    same. The program is also what a crash inside Tesseract cannot take the caller down with."""

    def __init__(self, *, scale: float = 2.0, min_conf: float = 60.0, lang: str = "eng", timeout: float = 60.0,
                 retry_inverted: bool = True, in_process: bool = True):
        self.exe = tesseract_path()
        # Tesseract reads a word again inverted when unsure; the crops are already dark on light, and
        # without that retry it took 35% less CPU on the busy 720p video (docs/benchmarks.md)
        self.retry_inverted = bool(retry_inverted)
        self.scale = float(scale)
        self.min_conf = float(min_conf)
        self.lang = lang
        self.timeout = float(timeout)
        self.engine = None  # a tesslib.Engine, or None: the program
        if in_process:
            from . import tesslib

            try:
                self.engine = tesslib.engine(lang, 6, **({} if retry_inverted else {"tessedit_do_invert": "0"}))
            except OSError as exc:
                log.info("reading text with the tesseract program: %s", exc)

    def start(self, images: list[np.ndarray], regions: list[list[tuple[int, int, int, int]]] | None = None,
              large: list[np.ndarray | None] | None = None) -> OcrJob:
        """``regions[i]``: the boxes of ``images[i]`` to read (default: :func:`text_regions`, found on
        ``images[i]``); ``large[i]``: the same picture at a larger size (or None), where the boxes
        are read."""
        crops: list[np.ndarray] = []
        owner: list[int] = []
        for i, img, box, big in boxes_to_read(images, regions, large):
            crops.append(_crop(img, box, self.scale, big))
            owner.append(i)
        return OcrJob(self, crops, owner, len(images))

    def read(self, images: list[np.ndarray], regions: list[list[tuple[int, int, int, int]]] | None = None,
             large: list[np.ndarray | None] | None = None) -> list[str]:
        return self.start(images, regions, large).result()


def _word_rows(lines: list[str]):
    """``(page index, word, confidence)`` of each word row of Tesseract TSV lines."""
    for line in lines:
        cols = line.split("\t")
        if len(cols) != 12 or cols[0] != "5" or not cols[11].strip():
            continue
        try:
            page, conf = int(cols[1]) - 1, float(cols[10])
        except ValueError:
            continue
        yield page, cols[11], conf


def parse_tsv(tsv: str) -> dict[int, list[tuple[str, float]]]:
    """Tesseract TSV (the program's, with its header) -> ``{page index (0-based): [(word, confidence)]}``."""
    out: dict[int, list[tuple[str, float]]] = {}
    for page, word, conf in _word_rows(tsv.splitlines()[1:]):
        out.setdefault(page, []).append((word, conf))
    return out


def tsv_words(rows: str) -> list[tuple[str, float]]:
    """The ``(word, confidence)`` of one page's TSV rows (the library's, without a header)."""
    return [(word, conf) for _page, word, conf in _word_rows(rows.splitlines())]


def _box_mask(shape: tuple[int, int], boxes: list[tuple[int, int, int, int]], size: int = 64) -> np.ndarray:
    H, W = shape[:2]
    m = np.zeros((size, size), bool)
    for x, y, w, h in boxes:
        m[int(y * size / H): max(int(y * size / H) + 1, int((y + h) * size / H)),
          int(x * size / W): max(int(x * size / W) + 1, int((x + w) * size / W))] = True
    return m


def _box_iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter) if inter else 0.0


def _unmatched(boxes, last, min_iou: float) -> bool:
    """Whether some box of ``boxes`` matches no box of ``last`` (IoU at least ``min_iou``)."""
    return any(all(_box_iou(b, o) < min_iou for o in last) for b in boxes)


@dataclass
class OcrGate:
    """Per video: which keyframes are worth reading. A keyframe is read when it has text-like
    regions and either the picture changed since the last frame that was read (mean absolute
    difference of 64x64 grey thumbnails above ``change``, 0..1) or its text did: the text regions
    moved (their overlap with the last read frame's below ``overlap``), the pixels inside them
    changed (mean absolute difference there above ``text_change``), or (``new_boxes``) a text box
    appeared that no box of the last read frame matches (box IoU below ``box_iou``): a caption
    that is typed or replaced changes little of the whole picture, and one typed inside a larger
    text-like region (a dialog box on a screen) changes neither the regions' mask nor their mean.
    A text-only change is read at most once per ``interval`` seconds, and any read at most once
    per ``min_interval`` seconds (``VIDSEARCH_OCR_INTERVAL``; 0: no limit): on busy video, where
    every sample's picture changes, that is what bounds Tesseract's share of the ingest. A frame
    skipped for it is not remembered, so the next frame after the interval is compared with the
    last frame that was READ: a caption that appeared meanwhile is read then (one shown for less
    than ``min_interval`` can be missed). Times are frame times, which may fall a little before
    the nominal sample times: up to ``slack`` seconds short of the interval count as the interval.

    Back-off (``max_interval``, ``VIDSEARCH_OCR_BACKOFF``): the caller reports what the reads found
    (:meth:`heard`). Once reads come back without a word of :data:`REAL_WORD` characters or more
    (nothing, or the two-letter noise Tesseract makes of busy textures), each read doubles the
    interval, up to ``max_interval``: the reads of one :meth:`select` are chosen before any of them
    is heard, so after empty reads they are counted as empty until heard. A read that finds a word
    puts the interval back to ``min_interval``, and it stays there while reads find words. A video
    starts at ``min_interval``, and the ingest's first batches are short (4, 8, 16 frames: the
    decoder's first chunks), so the back-off starts after the first reads are heard (a pessimistic
    start, counting them empty before that, lost 2 of the 58 text queries' first answers on the
    shared clips; this one lost none). On busy footage without text the reads thin out; a caption
    that appears is read within ``max_interval``."""

    change: float = 0.06
    overlap: float = 0.7
    text_change: float = 0.08
    interval: float = 2.0
    new_boxes: bool = True
    box_iou: float = 0.5
    min_interval: float = 0.0
    max_interval: float = 0.0  # back-off ceiling; at or below min_interval: no back-off
    slack: float = 0.05
    _wait: float | None = None  # the interval now (None: min_interval)
    _words: bool = True  # the last reads heard found a word, or none were heard yet (no back-off meanwhile)
    _last: np.ndarray | None = None
    _last_mask: np.ndarray | None = None
    _last_boxes: list | None = None
    _last_time: float = -1e9

    @staticmethod
    def thumb(image: np.ndarray) -> np.ndarray:
        import cv2

        return cv2.resize(_gray(image), (64, 64), interpolation=cv2.INTER_AREA).astype(np.float32) / 255

    def select(self, images: list[np.ndarray], times: list[float] | None = None) -> list[tuple[int, list[tuple[int, int, int, int]]]]:
        """``[(index, text boxes)]`` of the images (taken at ``times``, seconds) to read."""
        chosen = []
        for i, img in enumerate(images):
            now = float(times[i]) if times is not None else float(i)
            if self._interval > 0 and now - self._last_time < self._interval - self.slack:
                continue  # read too recently (before the text detector: this frame costs nothing)
            boxes = text_regions(img)
            if not boxes:
                continue
            t = self.thumb(img)
            mask = _box_mask(img.shape, boxes)
            if self._last is not None and self._last_mask is not None:
                diff = np.abs(t - self._last)
                changed = float(diff.mean()) > self.change
                both = np.logical_or(mask, self._last_mask)
                iou = np.logical_and(mask, self._last_mask).sum() / both.sum() if both.any() else 1.0
                text_changed = (iou < self.overlap or float(diff[both].mean()) > self.text_change
                                or (self.new_boxes and _unmatched(boxes, self._last_boxes or [], self.box_iou)))
                if not changed and (not text_changed or now - self._last_time < self.interval):
                    continue
            chosen.append((i, boxes))
            self._last, self._last_mask, self._last_boxes, self._last_time = t, mask, boxes, now
            if not self._words:
                self._back_off(1)
        return chosen

    def heard(self, texts: list[str]) -> None:
        """What the reads chosen by the last :meth:`select` found: sets the back-off."""
        if any(len(w) >= REAL_WORD for text in texts for w in text.split()):
            self._wait, self._words = None, True
        elif texts and self._words:  # these reads were chosen at the short interval
            self._words = False
            self._back_off(len(texts))

    @property
    def _interval(self) -> float:
        return self.min_interval if self._wait is None else self._wait

    def _back_off(self, reads: int) -> None:
        if self.max_interval > self.min_interval > 0:
            self._wait = min(self.max_interval, self._interval * 2 ** min(reads, 32))
