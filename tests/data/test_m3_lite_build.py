"""The m3_lite build: utterance plans, the word table and the audio features reproduce the
shipped assets. The espeak-ng regeneration runs where the recorded espeak-ng version is
installed (CI installs it) and is skipped, with the reason, elsewhere."""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest

from robustlab.data.m3_lite import ASSETS, load_assets
from robustlab.data.m3_lite_audio import FEATURE_DIM, FEATURE_NAMES, audio_features
from robustlab.data.m3_lite_build import (
    SPLITS,
    VARIANTS,
    espeak_version,
    features_of,
    plan,
    split_numbers,
    word_table,
)

REBUILT_LANGUAGES = ("en", "ru", "tr")  # Latin, Cyrillic, and a language with vowel harmony
REBUILT_PER_SPLIT = 3


def test_utterance_plans_reproduce_the_shipped_table() -> None:
    """Every shipped utterance's (number, variant, speed, pitch) is its plan's (no espeak)."""
    assets = load_assets(ASSETS)
    numbers = split_numbers()
    for split in SPLITS:
        table = assets.utterances[split]
        for li, lang in enumerate(assets.languages):
            rows = [plan(lang, split, k, numbers).row() for k in range(table.shape[1])]
            np.testing.assert_array_equal(table[li], np.array(rows, dtype=np.int16))
    assert {int(v) for s in SPLITS for v in assets.utterances[s][..., 1].ravel()} <= \
        set(range(len(VARIANTS)))


def test_word_table_is_num2words_at_the_recorded_version() -> None:
    pytest.importorskip("num2words", reason="the `build` extra (num2words) is not installed")
    assets = load_assets(ASSETS)
    installed = importlib.metadata.version("num2words")
    if installed != assets.manifest["num2words"]:
        pytest.skip(f"num2words {installed} installed, assets built with "
                    f"{assets.manifest['num2words']}")
    assert word_table(assets.languages) == assets.words


def test_regenerated_utterances_match_the_shipped_features() -> None:
    assets = load_assets(ASSETS)
    recorded, found = assets.manifest["espeak_ng"], espeak_version()
    if found is None:
        pytest.skip("espeak-ng is not installed (Debian: apt-get install espeak-ng)")
    if found != recorded:
        pytest.skip(f"espeak-ng {found} installed, banks built with {recorded}")
    numbers = split_numbers()
    for split in ("train", "test"):
        for lang in REBUILT_LANGUAGES:
            li = assets.languages.index(lang)
            utterances = [plan(lang, split, k, numbers) for k in range(REBUILT_PER_SPLIT)]
            rebuilt = features_of(utterances, jobs=1)  # (k, 220) float64
            shipped = assets.audio[split][li, :REBUILT_PER_SPLIT].astype(np.float64)
            # float16 keeps 11 significant bits: a relative error up to 2^-11
            np.testing.assert_allclose(rebuilt, shipped, rtol=2e-3, atol=2e-3,
                                       err_msg=f"{lang} {split}")


def test_features_of_known_signals() -> None:
    """A 1 kHz tone has its spectral centroid near 1 kHz; twice as long adds log 2 to the
    log duration; the same waveform gives the same vector; PCM int16 is scaled like float."""
    rate = 22050
    t = np.arange(rate) / rate
    tone = 0.5 * np.sin(2 * np.pi * 1000.0 * t)
    f1 = audio_features(tone, rate)
    f2 = audio_features(np.concatenate([tone, tone]), rate)
    assert f1.shape == (FEATURE_DIM,) == (len(FEATURE_NAMES),)
    names = {name: i for i, name in enumerate(FEATURE_NAMES)}
    assert abs(f1[names["centroid_mean_khz"]] - 1.0) < 0.1
    assert abs(f2[names["log_duration_s"]] - f1[names["log_duration_s"]] - np.log(2)) < 0.02
    np.testing.assert_array_equal(f1, audio_features(tone.copy(), rate))
    noisy = tone + 0.05 * np.random.default_rng(0).standard_normal(t.size)  # no empty bands
    pcm = np.round(noisy * 32767).astype(np.int16)
    np.testing.assert_allclose(audio_features(pcm, rate), audio_features(noisy, rate),
                               rtol=1e-3, atol=1e-3)
    with pytest.raises(ValueError, match="mono"):
        audio_features(np.zeros((2, 100)), rate)
