"""vidsearch.models.temporal: the two-stream CNN-LSTM segment encoder, its weights and its training."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from vidsearch.models import ModelUnavailable  # noqa: E402
from vidsearch.models.temporal import (  # noqa: E402
    GREY,
    SegmentSteps,
    TemporalEncoder,
    WeightsUnavailable,
    build_network,
    default_weights_path,
    motion_frame,
    save_weights,
    step_indices,
)
from vidsearch.records import Keyframe  # noqa: E402

from ..conftest import REPO  # noqa: E402


def unit_rows(rng, *shape):
    v = rng.standard_normal(shape).astype(np.float32)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def grey_frames(rng, n):
    return rng.integers(0, 256, (n, GREY, GREY), dtype=np.uint8)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Small networks, busy shared CPUs: OpenMP threads spinning for each LSTM step cost 10x."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def encoder() -> TemporalEncoder:
    return TemporalEncoder(device="cpu")


def _net_inputs(rng, lengths, net):
    B, T = len(lengths), max(lengths)
    app = torch.from_numpy(unit_rows(rng, B, T, 512))
    mot = torch.from_numpy(rng.standard_normal((B, T, net.motion_features_dim)).astype(np.float32))
    for b, n in enumerate(lengths):
        app[b, n:] = 0
        mot[b, n:] = 0
    return app, mot


def test_shapes_and_unit_norm_for_variable_lengths():
    torch.manual_seed(0)
    net = build_network().eval()
    rng = np.random.default_rng(0)
    app, mot = _net_inputs(rng, [5, 1, 9], net)
    with torch.no_grad():
        out = net(app, mot, [5, 1, 9])
        feats = net.motion(torch.from_numpy(grey_frames(rng, 4)), torch.from_numpy(grey_frames(rng, 4)))
    assert out.shape == (3, 512)
    assert np.allclose(out.norm(dim=1).numpy(), 1.0, atol=1e-5)
    assert feats.shape == (4, net.motion_features_dim)


def test_untrained_network_is_mean_pooling_and_padding_does_not_leak():
    """Zero-initialised attention and head: the fresh network returns the normalised mean of the
    appearance rows of the valid steps, whatever the padding holds."""
    torch.manual_seed(1)
    net = build_network().eval()
    rng = np.random.default_rng(1)
    app, mot = _net_inputs(rng, [4, 7], net)
    app[0, 4:] = torch.from_numpy(unit_rows(rng, 3, 512))  # garbage in the padding
    with torch.no_grad():
        out = net(app, mot, [4, 7]).numpy()
    for b, n in enumerate([4, 7]):
        mean = app[b, :n].numpy().mean(0)
        assert np.allclose(out[b], mean / np.linalg.norm(mean), atol=1e-5)


def test_committed_weights_load_and_are_trained(encoder):
    path = default_weights_path()
    assert path.is_file() and path.stat().st_size <= 20 * 1024 * 1024
    meta = encoder.meta
    assert meta["copy_model"] == "distilled" and meta["trained_on"] and meta["held_out"]
    assert not set(meta["trained_on"]) & set(meta["held_out"])
    # trained: the head and the attention moved away from their zero initialisation
    assert float(encoder.net.head.weight.abs().sum()) > 0 and float(encoder.net.attn.weight.abs().sum()) > 0
    rng = np.random.default_rng(2)
    app = unit_rows(rng, 6, 512)
    prev, cur = grey_frames(rng, 6), grey_frames(rng, 6)
    out = encoder.encode_steps([(app, encoder.motion_features(prev, cur))])
    mean = app.mean(0) / np.linalg.norm(app.mean(0))
    assert out.shape == (1, 512) and abs(np.linalg.norm(out) - 1) < 1e-5
    assert float(out[0] @ mean) < 0.9999  # not plain mean pooling


def test_deterministic_and_batch_independent(encoder):
    rng = np.random.default_rng(3)
    seqs = []
    for n in (3, 8, 1):
        prev, cur = grey_frames(rng, n), grey_frames(rng, n)
        seqs.append((unit_rows(rng, n, 512), encoder.motion_features(prev, cur)))
    a = encoder.encode_steps(seqs)
    b = encoder.encode_steps(seqs)
    alone = np.concatenate([encoder.encode_steps([s]) for s in seqs])
    assert np.array_equal(a, b)
    assert np.allclose(a, alone, atol=1e-5)
    assert TemporalEncoder(device="cpu").net is encoder.net  # loaded once per process


def test_dense_query_frames_are_thinned_to_the_training_step(encoder):
    times = np.arange(0, 5.01, 0.25)  # a query decoded at 4 frames/s
    assert step_indices(times, 1.0) == [0, 4, 8, 12, 16, 20]
    assert step_indices([0.0, 0.9, 2.2, 2.3], 1.0) == [0, 1, 2]
    rng = np.random.default_rng(6)
    copy, grey = unit_rows(rng, 21, 512), grey_frames(rng, 21)
    dense = encoder.encode_clip(None, copy, times=times, grey=grey)
    assert np.allclose(dense, encoder.encode_clip(None, copy[::4], grey=grey[::4]), atol=1e-6)
    assert not np.allclose(dense, encoder.encode_clip(None, copy, grey=grey), atol=1e-3)


def test_motion_features_ignore_brightness_offsets(encoder):
    rng = np.random.default_rng(4)
    prev = rng.integers(40, 200, (2, GREY, GREY)).astype(np.uint8)
    cur = np.roll(prev, 3, axis=2)
    shifted = encoder.motion_features(prev + 30, cur + 30)
    assert np.allclose(encoder.motion_features(prev, cur), shifted, atol=1e-5)
    still = encoder.motion_features(prev, prev)
    assert not np.allclose(still, encoder.motion_features(prev, cur), atol=1e-3)


def test_motion_frame_is_small_grey():
    img = np.zeros((224, 398, 3), np.uint8)
    img[:, :199] = (255, 0, 0)
    g = motion_frame(img)
    assert g.shape == (GREY, GREY) and g.dtype == np.uint8
    assert g[:, :30].mean() > 50 and g[:, -30:].mean() == 0


def test_missing_or_foreign_weights_say_what_to_do(tmp_path):
    with pytest.raises(WeightsUnavailable) as info:
        TemporalEncoder(tmp_path / "nope.pt")
    assert isinstance(info.value, ModelUnavailable)
    assert "nope.pt" in str(info.value) and "VIDSEARCH_SEGMENT_ENCODER=mean" in str(info.value)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not torch")
    with pytest.raises(WeightsUnavailable, match="unreadable"):
        TemporalEncoder(junk)
    other = save_weights(build_network(), tmp_path / "full.pt", {"copy_model": "full"})
    with pytest.raises(WeightsUnavailable, match="'full' SSCD descriptors"):
        TemporalEncoder(other, copy_model="distilled")


def test_segment_steps_bound_memory_and_encode(encoder):
    rng = np.random.default_rng(5)
    steps = SegmentSteps(encoder, max_steps=8)
    kf = Keyframe(0.0, 0, copy=unit_rows(rng, 512))
    for i in range(100):
        steps.push(0, kf, rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), opened=i == 0)
        if i % 10 == 9:
            steps.flush()
    assert steps.open_steps <= 16
    kf2 = Keyframe(5.0, 5000, copy=unit_rows(rng, 512))
    steps.push(5000, kf2, np.zeros((48, 64, 3), np.uint8), opened=True)
    out = steps.close([0, 5000])
    assert out.shape == (2, 512) and np.allclose(np.linalg.norm(out, axis=1), 1, atol=1e-5)
    assert steps.open_steps == 0
    with pytest.raises(ValueError):
        steps.close([0])


# Training ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def two_videos(tmp_path_factory):
    """Two made videos (moving test pattern, a Game of Life), precomputed with the real SSCD."""
    from vidsearch.models.sscd import CopyDescriptor
    from vidsearch.models.train_temporal import assign_groups, prepare_video

    from ..conftest import make_video

    folder = tmp_path_factory.mktemp("train")
    a = make_video(folder / "a.mp4", duration=8, size="320x240", fps=10)
    b = make_video(folder / "b.mp4", size="320x240",
                   source="life=size=320x240:rate=10:mold=10:ratio=0.3:death_color=#4020a0:life_color=#f0c020,trim=duration=8")
    copy = CopyDescriptor("distilled", batch_size=16)
    videos = [prepare_video(p, copy=copy, fps=2.0, views=3, seed=0) for p in (a, b)]
    assert all(v is not None for v in videos)
    assert assign_groups(videos) == 2
    return folder, videos


def test_views_are_edited_copies(two_videos):
    _, videos = two_videos
    v = videos[0]
    assert v.copy.shape[:2] == (3, len(v.times)) and v.grey.shape[1:] == (len(v.times), GREY, GREY)
    assert v.views[0] == {} and all(len(p) >= 2 for p in v.views[1:])
    c = v.copy.astype(np.float32)
    same = (c[0] * c[1]).sum(1).mean()
    assert same < 0.999  # the view changed the pictures...
    assert same > (c[0][:, None] @ videos[1].copy[0].astype(np.float32).T[None]).max()  # ...less than other footage


def test_a_few_training_steps_reduce_the_loss(two_videos):
    from vidsearch.models.train_temporal import Sampler, embed, info_nce, same_footage_mask, train

    _, videos = two_videos
    rng = np.random.default_rng(9)
    sampler = Sampler(videos, fps=2.0, max_anchor=5, max_query=5)
    fixed = [sampler.batch(rng, 8) for _ in range(3)]
    tau = 0.5  # two very different videos: at 0.07 even mean pooling leaves almost no loss to remove

    def loss(net):
        with torch.no_grad():
            return float(np.mean([float(info_nce(embed(net, videos, a, "cpu"), embed(net, videos, p, "cpu"),
                                                 same_footage_mask(videos, a), tau)) for a, p in fixed]))

    torch.manual_seed(0)
    before = loss(build_network().eval())  # train() starts from the same seed, so from this network
    net, history = train(videos, epochs=10, batch=4, lr=3e-3, tau=tau, fps=2.0, seed=0, windows_per_epoch=16,
                         log_fn=lambda s: None)
    after = loss(net)
    assert history[-1]["steps"] == 40
    assert after < 0.8 * before, (before, after)


def test_train_temporal_command_writes_loadable_weights(two_videos, tmp_path):
    folder, _ = two_videos
    out = tmp_path / "w.pt"
    env_cmd = [sys.executable, "-m", "vidsearch.cli", "train-temporal", str(folder), "--out", str(out),
               "--epochs", "2", "--batch", "4", "--views", "2", "--fps", "2"]
    res = subprocess.run(env_cmd, cwd=REPO, capture_output=True, text=True, timeout=300,
                         env={"PATH": "/usr/bin:/bin", "VIDSEARCH_DEVICE": "cpu", "HOME": str(tmp_path),
                              "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["out"] == str(out) and out.is_file()
    enc = TemporalEncoder(out)
    assert enc.meta["trained_on"] == ["a.mp4", "b.mp4"] and enc.meta["held_out"] == []
    assert enc.meta["steps"] == 2 and enc.meta["hyper"]["views"] == 2
    assert enc.meta["command"].startswith("vidsearch train-temporal ")
