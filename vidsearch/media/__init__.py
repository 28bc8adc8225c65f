"""File -> VideoInfo (``probe``); file -> sampled frames in bounded chunks (``sample_frames``)."""
from vidsearch.media.decode import sample_frames
from vidsearch.media.errors import MediaError
from vidsearch.media.probe import probe

__all__ = ["MediaError", "probe", "sample_frames"]
