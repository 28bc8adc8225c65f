"""Query by still image, semantically: pictures of the same kind of thing, not copies of the picture.

With a CLIP-family model configured (``VIDSEARCH_JOINT_MODEL``) the image is embedded by its image
tower and searched against the keyframes' ``"joint"`` vectors; without one, against the
EfficientNet-Lite0 ``"semantic"`` features (closer to "the same scene" than "the same idea").
"""
from __future__ import annotations

import numpy as np

from vidsearch.search.confidence import labeller, levels
from vidsearch.search.moment import Moments, moments_for_vector


def search_image_semantic(image: np.ndarray, *, encoders, store, catalog, settings, limit: int = 10,
                          video_id: str | None = None, after: float | None = None,
                          before: float | None = None, where: dict | None = None, **page) -> Moments:
    from vidsearch.index.store import JOINT, SEMANTIC

    joint = encoders.joint
    if joint is not None and JOINT in store.dims:
        name, vector = JOINT, joint.encode_images([image])[0]
    elif encoders.semantic is not None:
        name, vector = SEMANTIC, encoders.semantic.embed([image])[0]
    else:
        raise ValueError("semantic image search needs VIDSEARCH_JOINT_MODEL or VIDSEARCH_SEMANTIC=1")
    what = "image-text model" if name == JOINT else "semantic features"
    label = labeller("semantic", why=lambda m: [f"looks alike ({what}, similarity {m.score:.2f} of 1)"])
    return moments_for_vector(store, catalog, settings, name, vector, limit=limit, video_id=video_id, after=after,
                              before=before, floor=levels("semantic").floor, label=label, where=where, **page)
