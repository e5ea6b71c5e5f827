"""Audio loading on real recordings: formats, rates, channels, and every kind of bad file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile

from vocalpy_xai.errors import AudioError, FormatError
from vocalpy_xai.io import load_audio, sha256_file


def test_wav_loads_unchanged(bird0_wav):
    record = load_audio(bird0_wav)
    info = soundfile.info(bird0_wav)
    assert record.sound.samplerate == 32000
    assert record.sound.data.shape == (1, info.frames)
    assert record.sound.data.dtype == np.float32
    assert not record.resampled and not record.downmixed
    assert record.sha256 == sha256_file(bird0_wav)
    assert record.provenance()["source_samplerate"] == 32000


def test_resampling_is_explicit_and_recorded(bird0_wav):
    record = load_audio(bird0_wav, samplerate=16000)
    assert record.sound.samplerate == 16000
    assert record.resampled and record.source_samplerate == 32000
    assert record.duration == pytest.approx(soundfile.info(bird0_wav).duration, abs=1e-3)
    with pytest.raises(AudioError, match=r"0\.wav: sample rate is 32000 Hz, expected 16000 Hz"):
        load_audio(bird0_wav, samplerate=16000, resample=False)


def test_flac_and_cbin_copies_of_a_real_song(bird0_wav, tmp_path):
    data, sr = soundfile.read(bird0_wav, dtype="int16")
    flac = tmp_path / "song.flac"
    soundfile.write(flac, data, sr)
    cbin = tmp_path / "song.cbin"
    data.astype(">i2").tofile(cbin)
    (tmp_path / "song.rec").write_text(f"Chans = 1\nADFREQ = {sr}\nSamples = {len(data)}\n")
    ref = load_audio(bird0_wav).sound.data
    for path in (flac, cbin):
        record = load_audio(path)
        assert record.sound.samplerate == sr
        np.testing.assert_allclose(record.sound.data, ref, atol=1e-6)
    # a truncated .cbin (fewer samples than its .rec declares) is refused
    data[: len(data) // 2].astype(">i2").tofile(cbin)
    with pytest.raises(AudioError, match="truncated .cbin"):
        load_audio(cbin)
    (tmp_path / "song.rec").unlink()
    with pytest.raises(AudioError, match="needs its .rec file"):
        load_audio(cbin)


def test_all_xeno_canto_clips_load_with_right_durations(xc10_dir):
    """The 100 clips: MP3 at 44.1 and 48 kHz, some stereo; durations as in labels.csv."""
    table = pd.read_csv(xc10_dir / "labels.csv")
    rates, channels = set(), set()
    for row in table.itertuples():
        record = load_audio(xc10_dir / row.mp3_file)
        assert record.source_samplerate == row.orig_sr
        assert record.source_channels == row.orig_channels
        assert record.duration == pytest.approx(row.duration_s, abs=0.05), row.mp3_file
        rates.add(record.source_samplerate)
        channels.add(record.source_channels)
    assert rates == {44100, 48000} and channels == {1, 2}


def test_stereo_mp3_downmix_and_resample_recorded(xc10_dir):
    table = pd.read_csv(xc10_dir / "labels.csv")
    row = table[(table.orig_channels == 2) & (table.orig_sr == 44100)].iloc[0]
    stereo = load_audio(xc10_dir / row.mp3_file)
    assert stereo.sound.data.shape[0] == 2
    mono = load_audio(xc10_dir / row.mp3_file, samplerate=48000, mono=True)
    assert mono.sound.data.shape[0] == 1 and mono.sound.samplerate == 48000
    assert mono.downmixed and mono.resampled
    assert mono.provenance() | {"source_path": None} == {
        "source_path": None,
        "sha256": stereo.sha256,
        "source_samplerate": 44100,
        "source_channels": 2,
        "samplerate": 48000,
        "resampled": True,
        "downmixed": True,
    }


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda b: b[: len(b) // 2], "truncated WAV: header declares"),
        (lambda b: b"", "file is empty"),
        (lambda b: b[:44], "truncated WAV: header declares [0-9]+ bytes of audio, file holds 0"),
        (lambda b: b"RIFF" + bytes(range(256)) * 20, "cannot decode audio"),
    ],
    ids=["truncated", "empty", "header-only", "corrupt"],
)
def test_bad_wav_is_refused_naming_the_file(bird0_wav, tmp_path, make, message):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(make(bird0_wav.read_bytes()))
    with pytest.raises(AudioError, match=message) as info:
        load_audio(bad)
    assert str(bad) in str(info.value)


def test_truncated_mp3_is_refused(xc10_dir, tmp_path):
    src = next((xc10_dir / "mp3").glob("*.mp3"))
    bad = tmp_path / "cut.mp3"
    bad.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    with pytest.raises(AudioError, match=r"cut\.mp3: truncated"):
        load_audio(bad)


def test_silence_nan_missing_and_unknown_extension(bird0_wav, tmp_path):
    silent = tmp_path / "silent.wav"
    soundfile.write(silent, np.zeros(32000, dtype=np.int16), 32000)
    with pytest.raises(AudioError, match=r"silent\.wav: pure silence"):
        load_audio(silent)
    assert load_audio(silent, allow_silence=True).duration == 1.0
    nan = tmp_path / "nan.wav"
    data = soundfile.read(bird0_wav, dtype="float32")[0]
    data[100] = np.nan
    soundfile.write(nan, data, 32000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        load_audio(nan)
    with pytest.raises(AudioError, match="file not found"):
        load_audio(tmp_path / "nope.wav")
    txt = tmp_path / "song.txt"
    txt.write_text("not audio")
    with pytest.raises(FormatError, match=r"unsupported audio extension '\.txt'"):
        load_audio(txt)
