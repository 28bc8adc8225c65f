"""File -> VideoInfo (``probe``); file -> sampled frames in bounded chunks (``sample_frames``),
decoded ahead of their consumer in a thread (``prefetched``)."""
from vidsearch.media.decode import prefetched, sample_frames
from vidsearch.media.errors import MediaError
from vidsearch.media.probe import probe

__all__ = ["MediaError", "prefetched", "probe", "sample_frames"]
