"""`m3_lite`: the structure Symile-M3 exists for, on the shipped banks, and the banks' integrity.

The statistical facts: the audio says the language and not the class; the text alone says
the class only up to 1/w; both together determine it (the word in the audio's language).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binomtest

from robustlab.data import DATASETS, SPLITS
from robustlab.data.m3_lite import (
    ASSETS,
    NUM_CLASSES,
    AssetError,
    _hasher,
    compose,
    example_draws,
    image_pools,
    load_assets,
    texts,
)

M3 = DATASETS.get("m3_lite")


def _plan(ds, split: str, w: int, seed: int) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    return compose(example_draws(seed, ds.split(split).example_id, w), w)


@pytest.mark.parametrize(("field", "value"), [("w", 3), ("w", True), ("w", 2.0), ("n", 2),
                                               ("text_dim", 8), ("test_fraction", 0.0)])
def test_options_are_strict(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"m3_lite\.{field}"):
        M3(**{field: value})


@pytest.mark.parametrize("w", [2, 5, 10])
def test_examples_follow_the_m3_construction(w: int) -> None:
    """Every text names w distinct classes in the w languages, once each; the word in the
    audio's language names the image's class; labels and slice columns say the same."""
    ds = M3(w=w, n=400).build(7)
    assets = load_assets(ASSETS)
    languages = assets.languages[:w]
    for split in SPLITS:
        part, plan = ds.split(split), _plan(ds, split, w, 7)
        words = [t.split(" ") for t in texts(assets, plan, w)]
        for i, text in enumerate(words):
            lang = plan["language"][i]
            assert text[plan["position"][i]] == assets.words[languages[lang]][part.label[i]]
            named = [assets.words[languages[j]].index(text[s]) for s, j in
                     enumerate(plan["slot"][i])]
            assert sorted(plan["slot"][i]) == list(range(w))
            assert len(set(named)) == w and part.label[i] in named
        meta = part.metadata
        assert meta["class"].to_list() == part.label.tolist()
        assert meta["language"].to_list() == [languages[j] for j in plan["language"]]
        assert meta["word_position"].to_list() == plan["position"].tolist()


def test_text_features_equal_hashing_the_joined_text() -> None:
    """Summing per-word char_wb counts (the fast path) is vectorising each joined string."""
    w = 5
    ds = M3(w=w, n=300, text_dim=256).build(1)
    plan = _plan(ds, "train", w, 1)
    joined = texts(load_assets(ASSETS), plan, w)
    direct = _hasher(256, norm="l2").transform(joined).toarray()
    np.testing.assert_allclose(ds.split("train").features["text"], direct, rtol=1e-5, atol=1e-6)


def test_images_and_utterances_are_disjoint_between_splits() -> None:
    ds = M3(w=5, n=3000).build(2)
    rows = {s: {r.tobytes() for r in ds.split(s).features["image"]} for s in SPLITS}
    audio = {s: {r.tobytes() for r in ds.split(s).features["audio"]} for s in SPLITS}
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        assert not rows[a] & rows[b], f"an image is in {a} and {b}"
        assert not audio[a] & audio[b], f"an utterance is in {a} and {b}"
    _, pools = image_pools(np.random.default_rng(0))
    for c in range(NUM_CLASSES):
        members = [set(pools[s][c].tolist()) for s in SPLITS]
        assert not (members[0] & members[1] or members[0] & members[2] or members[1] & members[2])
    said = {s: set(load_assets(ASSETS).utterances[s][..., 0].ravel().tolist()) for s in SPLITS}
    assert not (said["train"] & said["test"] or said["train"] & said["val"]
                or said["val"] & said["test"]), "a number is said in two splits"


def test_an_example_does_not_depend_on_the_others() -> None:
    """Example i comes from default_rng([seed, i]): the same id in the same split of two
    builds of different size is the same example."""
    small, large = M3(w=5, n=500).build(4), M3(w=5, n=900).build(4)
    shared = 0
    for split in SPLITS:
        a, b = small.split(split), large.split(split)
        common, ia, ib = np.intersect1d(a.example_id, b.example_id, return_indices=True)
        shared += common.size
        for m in ("audio", "image", "text"):
            np.testing.assert_array_equal(a.features[m][ia], b.features[m][ib])
        assert a.metadata[ia].equals(b.metadata[ib])
    assert shared > 200


def _fit_score(x_fit, y_fit, x_test, y_test) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Test hits of a linear classifier (ridge, closed form: fast and deterministic)."""
    from sklearn.linear_model import RidgeClassifier

    clf = RidgeClassifier(alpha=1.0).fit(x_fit, y_fit)
    return int((clf.predict(x_test) == y_test).sum()), int(y_test.size)


@pytest.mark.parametrize("w", [2, 5])
def test_audio_says_the_language_not_the_class_and_text_says_the_class_up_to_1_over_w(
    w: int,
) -> None:
    ds = M3(w=w, n=4000, test_fraction=0.2).build(0)
    fit, test = ds.split("train"), ds.split("test")
    lang_fit, lang_test = fit.metadata["language"].to_numpy(), test.metadata["language"].to_numpy()
    hits, n = _fit_score(fit.features["audio"], lang_fit, test.features["audio"], lang_test)
    assert hits / n > 0.95, f"language from audio: {hits}/{n}"
    hits, n = _fit_score(fit.features["audio"], fit.label, test.features["audio"], test.label)
    assert binomtest(hits, n, 1 / NUM_CLASSES, alternative="greater").pvalue > 1e-3, \
        f"class from audio: {hits}/{n} is above chance 0.1"
    hits, n = _fit_score(fit.features["text"], fit.label, test.features["text"], test.label)
    assert binomtest(hits, n, 1 / w, alternative="greater").pvalue > 1e-3, \
        f"class from text: {hits}/{n} is above 1/w"
    assert binomtest(hits, n, 1 / NUM_CLASSES, alternative="greater").pvalue < 1e-6, \
        f"class from text: {hits}/{n} should carry the w candidate classes"


def test_checksums_guard_the_assets(tmp_path: Path) -> None:
    copy = tmp_path / "assets"
    shutil.copytree(ASSETS, copy)
    assert load_assets(copy).languages == load_assets(ASSETS).languages
    broken = tmp_path / "broken"
    shutil.copytree(ASSETS, broken)
    data = bytearray((broken / "audio_test.npy").read_bytes())
    data[-1] ^= 0xFF
    (broken / "audio_test.npy").write_bytes(bytes(data))
    with pytest.raises(AssetError, match=r"audio_test\.npy: SHA-256 differs"):
        load_assets(broken)
    (copy / "words.json").unlink()
    load_assets.cache_clear()
    with pytest.raises(AssetError, match=r"words\.json: missing"):
        load_assets(copy)
    with pytest.raises(AssetError, match=r"manifest\.json: missing"):
        load_assets(tmp_path)


def test_manifest_describes_the_shipped_banks() -> None:
    assets = load_assets(ASSETS)
    manifest = assets.manifest
    assert list(assets.languages) == manifest["languages"]
    total = sum(p.stat().st_size for p in ASSETS.iterdir())
    assert total < 20 * 2**20, f"assets are {total / 2**20:.1f} MiB"
    for split in SPLITS:
        shape = (len(assets.languages), manifest["bank_sizes"][split], manifest["feature_dim"])
        assert assets.audio[split].shape == shape and assets.audio[split].dtype == np.float16
        assert np.isfinite(assets.audio[split]).all()
    words = [word for lang in assets.languages for word in assets.words[lang]]
    assert len(set(words)) == 10 * len(assets.languages)
