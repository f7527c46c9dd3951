import sys

import av
import numpy as np
import pytest
import soundfile
from conftest import read_jsonl, tiny_tone
from PIL import Image

from tfav.data import layout, videos
from tfav.data.__main__ import main as data_main
from tfav.errors import ConfigError, DataError

FPS = 25
BITS = 7


def frame_image(n, width=96, height=64):
    """Frame n: its index in 7 black/white bands of 8 px in the central 64 columns, red margins."""
    img = np.zeros((height, width, 3), np.uint8)
    img[:] = (255, 0, 0)
    left = (width - height) // 2
    img[:, left : left + height] = (0, 0, 0)
    for b in range(BITS):
        if n >> b & 1:
            img[:, left + 8 * b : left + 8 * b + 8] = 255
    return img


def read_index(image):
    """The frame index encoded by :func:`frame_image` in a centre-cropped, resized image."""
    band = image.shape[1] / 8
    cols = [image[:, int(band * b + band / 2), :].mean() > 128 for b in range(BITS)]
    return sum(int(c) << b for b, c in enumerate(cols))


def make_video(
    path, seconds, sound=None, sample_rate=44100, audio_codec="pcm_s16le", size=(96, 64)
):
    """A real video: frames from :func:`frame_image`, optional mono/stereo audio track."""
    with av.open(str(path), "w") as container:
        vs = container.add_stream("mpeg4", rate=FPS)
        vs.width, vs.height, vs.pix_fmt, vs.bit_rate = size[0], size[1], "yuv420p", 4_000_000
        if sound is not None:
            sound = np.atleast_2d(np.asarray(sound, np.float32))  # [channels, samples]
            layout_name = "mono" if sound.shape[0] == 1 else "stereo"
            aus = container.add_stream(audio_codec, rate=sample_rate, layout=layout_name)
        for n in range(round(seconds * FPS)):
            frame = av.VideoFrame.from_ndarray(frame_image(n, *size), format="rgb24")
            frame.pts = n
            container.mux(vs.encode(frame))
        container.mux(vs.encode(None))
        if sound is not None:
            if audio_codec == "aac":
                fmt, data = "fltp", sound
            else:
                fmt = "s16"
                data = np.round(sound.T * 32767).astype(np.int16).reshape(1, -1)
            step = 1024
            total = sound.shape[1]
            for start in range(0, total, step):
                chunk = (
                    data[:, start : start + step]
                    if fmt == "fltp"
                    else data[:, start * sound.shape[0] : (start + step) * sound.shape[0]]
                )
                af = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(chunk), format=fmt, layout=layout_name
                )
                af.sample_rate, af.pts = sample_rate, start
                container.mux(aus.encode(af))
            container.mux(aus.encode(None))
    return path


def loud_with_gap(seconds, gap_chunk=None, sample_rate=44100, hz=440.0):
    x = tiny_tone(hz, 0.5, samples=round(seconds * sample_rate), sample_rate=sample_rate)
    if gap_chunk is not None:
        half = sample_rate // 2
        x[gap_chunk * half : (gap_chunk + 1) * half] = 0.0
    return x


def test_chunks_first_frames_silence_and_crop(tmp_path):
    src = tmp_path / "src" / "violin"
    src.mkdir(parents=True)
    make_video(src / "perf.mov", 3.0, loud_with_gap(3.0, gap_chunk=2))
    out = tmp_path / "out"
    (res,) = videos.videos_to_pairs(src, out, size=32, progress=False)
    assert res.error is None and res.split == "train"  # a lone video trains
    assert res.kept == {"violin": 5} and res.silent == 1 and res.no_frame == 0
    index = layout.index_pairs(out)
    stems = sorted((p.stem for p in index.pairs), key=lambda s: int(s.rsplit("_", 1)[1]))
    assert stems == ["perf_0", "perf_500", "perf_1500", "perf_2000", "perf_2500"]
    for pair in index.pairs:
        k = int(pair.stem.rsplit("_", 1)[1]) // 500
        image = np.asarray(Image.open(pair.image_path))
        assert image.shape == (32, 32, 3)
        assert read_index(image) == int(np.ceil(12.5 * k))  # first frame at or after 0.5 k s
        assert (image[..., 0].astype(int) - image[..., 2]).max() < 60  # no red margin left
        info = soundfile.info(pair.audio_path)
        assert (info.samplerate, info.channels, info.frames) == (44100, 1, 22050)
        wave, _ = soundfile.read(pair.audio_path, dtype="float32")
        want = loud_with_gap(3.0, 2)[k * 22050 : (k + 1) * 22050]
        np.testing.assert_allclose(wave, want, atol=2 / 32767)
    rows = read_jsonl(out / "labels.jsonl")
    assert len(rows) == 5 and {r["start_ms"] for r in rows} == {0, 500, 1500, 2000, 2500}


def test_aac_stereo_48k_and_category_option(tmp_path):
    x = loud_with_gap(2.2, sample_rate=48000)
    make_video(tmp_path / "clip.mp4", 2.2, np.stack([x, x]), 48000, "aac", size=(64, 64))
    (res,) = videos.videos_to_pairs(tmp_path / "clip.mp4", tmp_path / "out", category="flute",
                                    progress=False)  # fmt: skip
    assert res.kept == {"flute": 4} and res.silent == 0
    pair = layout.index_pairs(tmp_path / "out").pairs[0]
    wave, rate = soundfile.read(pair.audio_path, dtype="float32")
    assert rate == 44100 and 0.3 < np.abs(wave).max() < 0.6  # stereo averaged, not summed


def test_urmp_piece_uses_separated_tracks(tmp_path):
    piece = tmp_path / "urmp" / "01_Jupiter_vn_vc"
    piece.mkdir(parents=True)
    make_video(piece / "Vid_01_Jupiter_vn_vc.mp4", 3.0, size=(64, 64))  # no audio stream
    vn = loud_with_gap(3.0, hz=660.0)
    vc = loud_with_gap(3.0, hz=220.0)
    vc[3 * 22050 :] = 0.0  # the cello rests for the second half
    soundfile.write(piece / "AuSep_1_vn_01_Jupiter.wav", vn, 44100, subtype="PCM_16")
    soundfile.write(piece / "AuSep_2_vc_01_Jupiter.wav", vc, 44100, subtype="PCM_16")
    soundfile.write(piece / "AuMix_01_Jupiter_vn_vc.wav", (vn + vc) / 2, 44100)
    (res,) = videos.videos_to_pairs(tmp_path / "urmp", tmp_path / "out", progress=False)
    assert res.kept == {"violin": 6, "cello": 3} and res.silent == 3
    index = layout.index_pairs(tmp_path / "out")
    assert index.categories == ("cello", "violin")
    assert "Vid_01_Jupiter_vn_vc_1_2500" in {p.stem for p in index.select(category="violin")}
    cello = index.select(category="cello")
    wave, _ = soundfile.read(cello[0].audio_path, dtype="float32")
    np.testing.assert_allclose(wave, vc[:22050], atol=2 / 32767)
    # Only the mix: one category, from the folder name's single instrument.
    assert videos.plan_video(piece / "x.mp4").sources[0].path.endswith("AuSep_1_vn_01_Jupiter.wav")
    solo = tmp_path / "02_Sonata_fl"
    solo.mkdir()
    (solo / "AuMix_02_Sonata_fl.wav").write_bytes(b"")
    job = videos.plan_video(solo / "Vid_02_Sonata_fl.mp4")
    assert [(s.category, s.track) for s in job.sources] == [("flute", None)]


def test_split_by_video(tmp_path):
    jobs = [videos.VideoJob(f"/v/violin/{i}.mp4", [videos.AudioSource("violin")]) for i in range(5)]
    jobs += [videos.VideoJob(f"/v/cello/{i}.mp4", [videos.AudioSource("cello")]) for i in range(2)]
    jobs += [videos.VideoJob("/v/horn/0.mp4", [videos.AudioSource("horn")])]
    s = videos.split_videos(jobs, 0.2, seed=0)
    assert s == videos.split_videos(list(reversed(jobs)), 0.2, seed=0)  # deterministic
    violin = [s[j.path] for j in jobs[:5]]
    assert violin.count("validation") == 1
    assert sorted(s[j.path] for j in jobs[5:7]) == ["train", "validation"]
    assert s["/v/horn/0.mp4"] == "train"
    picked = {
        tuple(videos.split_videos(jobs, 0.2, seed=k)[j.path] for j in jobs[:5]) for k in range(8)
    }
    assert len(picked) > 1  # the seed matters
    with pytest.raises(ConfigError):
        videos.split_videos(jobs, 1.0)


def test_split_keeps_videos_whole_on_disk(tmp_path):
    src = tmp_path / "src" / "cello"
    src.mkdir(parents=True)
    for name in ("a", "b", "c"):
        make_video(src / f"{name}.mkv", 1.0, loud_with_gap(1.0), size=(64, 64))
    results = videos.videos_to_pairs(tmp_path / "src", tmp_path / "out", seed=3, progress=False)
    assert sorted(r.split for r in results) == ["train", "train", "validation"]
    index = layout.index_pairs(tmp_path / "out")
    for r in results:
        video = r.path.rsplit("/", 1)[1].split(".")[0]
        assert {p.split for p in index.pairs if p.stem.startswith(video + "_")} == {r.split}
        assert r.kept == {"cello": 2}


def test_unreadable_video_warned_and_counted(tmp_path, capsys):
    src = tmp_path / "src" / "oboe"
    src.mkdir(parents=True)
    make_video(src / "good.mov", 1.0, loud_with_gap(1.0), size=(64, 64))
    (src / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    data_main(["from-videos", str(tmp_path / "src"), str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert "broken.mp4: unreadable video" in captured.err
    assert (
        "1 video(s): 2 pairs kept" in captured.out
        and "1 unreadable video(s) skipped" in captured.out
    )
    (src / "good.mov").unlink()
    with pytest.raises(DataError, match="none of the 1 video"):
        videos.videos_to_pairs(tmp_path / "src", tmp_path / "out2", progress=False, warn=print)


def test_no_videos_and_missing_pyav(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="no videos found"):
        videos.videos_to_pairs(tmp_path, tmp_path / "out", progress=False)
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(ConfigError, match="PyAV"):
        videos.videos_to_pairs(tmp_path, tmp_path / "out", progress=False)
