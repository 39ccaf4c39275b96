"""`m3_lite`: Symile-M3's structure (Saporta et al., NeurIPS 2024) from real parts that ship
offline. Three modalities:

- `image`: a real handwritten digit of class c (scikit-learn's bundled `load_digits`: 1,797
  8×8 images, 64 features scaled to [0, 1]). Each class's images are split into disjoint
  train / val / test pools (`IMAGE_POOLS`, drawn with the seed): no image is in two splits.
- `audio`: an utterance in language L: espeak-ng reading a number from 10-999 in L with a
  random voice variant, speed and pitch, as 220 features (`m3_lite_audio`). It carries the
  language and nothing about c. Utterances come from a shipped bank per language and split
  (disjoint between splits, and so are the numbers they say), standardised with the train
  bank's mean and std of the w languages in use.
- `text`: the w digit names, one per language, in random order: c's name in L, and w-1
  other classes' names in the w-1 other languages (no class and no language twice). The
  features are scikit-learn's `HashingVectorizer` over character 1-3-grams inside word
  boundaries (`char_wb`, `text_dim` buckets, l2-normalised; fixed, nothing fitted).

The image's class is determined by audio and text together (the language picks the word)
and by neither alone: from the text alone it is one of w classes (≈ 1/w), from the audio
alone it is any of the 10. Retrieve the image from (audio, text) with class-level matching
(`task: {protocol: retrieval, target: image, match: label}`), as Symile-M3 does.

Example `i` is composed at load time from its own generator, `default_rng([seed, i])`
(language, class, the other words, the word order, which pool image and which bank
utterance), so any `n` is available and an example's content does not depend on the others.
The train/val/test assignment is a seeded split of the ids (`storage_ids`). Labels are the
class; slice columns are `language` (the audio's language code), `class` and
`word_position` (0-based slot of the correct word in the text).

The shipped assets (float16 audio banks, the word table, a checksum manifest) live in
`m3_lite_assets/` inside the package; `python -m robustlab.data.m3_lite_build` rebuilds them.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from robustlab.data.dataset import SPLITS, Split, TrimodalDataset
from robustlab.data.registry import DATASETS, DatasetOptions
from robustlab.data.splitting import (
    all_present,
    assemble,
    check_int,
    check_seed,
    check_split,
    seed_streams,
    storage_ids,
)

NAME = "m3_lite"
MODALITIES = ("audio", "image", "text")
WAYS = (2, 5, 10)
NUM_CLASSES = 10
IMAGE_POOLS = {"train": 0.6, "val": 0.2, "test": 0.2}  # share of each class's digit images
ASSETS = Path(__file__).with_name("m3_lite_assets")
_DRAWS = 14  # per example: language, class, 10 class keys, image, audio (+ w slot keys)


class AssetError(ValueError):
    """The shipped m3_lite assets are missing or do not match their checksum manifest."""


@DATASETS.register(NAME)
@dataclass(frozen=True)
class M3Lite(DatasetOptions):
    """Options of `m3_lite` (YAML keys = field names).

    w:         number of languages (and of words in the text): 2, 5 or 10
    n:         examples in all (split by val_fraction / test_fraction)
    text_dim:  hashing buckets of the text features
    """

    w: int = 2
    n: int = 5000
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    text_dim: int = 512

    def __post_init__(self) -> None:
        if not isinstance(self.w, int) or isinstance(self.w, bool) or self.w not in WAYS:
            raise ValueError(f"{NAME}.w: must be one of {list(WAYS)}, got {self.w!r}")
        check_int(NAME, "n", self.n, 3)
        check_int(NAME, "text_dim", self.text_dim, 16, 1 << 16)
        check_split(NAME, self.n, self.val_fraction, self.test_fraction)

    def build(self, seed: int) -> TrimodalDataset:
        check_seed(NAME, seed)
        assets = load_assets(ASSETS)
        languages = assets.languages[: self.w]
        pool_rng, split_rng = seed_streams(seed, 2)
        ids, sizes = storage_ids(self.n, self.val_fraction, self.test_fraction, split_rng)
        split_index = np.repeat(np.arange(len(SPLITS)), [sizes[s] for s in SPLITS])  # (n,)
        draws = example_draws(seed, ids, self.w)  # (n, 14 + w)
        plan = compose(draws, self.w)
        everything = Split(
            features={
                "audio": _audio(assets, plan, draws[:, 13], split_index, self.w),
                "image": _image(plan["class"], draws[:, 12], split_index, pool_rng),
                "text": text_features(assets, plan, self.w, self.text_dim),
            },
            masks=all_present(self.n, MODALITIES),
            example_id=ids,
            label=plan["class"].astype(np.int64),
            metadata=pl.DataFrame({
                "language": np.asarray(languages)[plan["language"]],
                "class": plan["class"].astype(np.int64),
                "word_position": plan["position"].astype(np.int64),
            }),
        )
        return assemble(NAME, everything, sizes, seed, num_classes=NUM_CLASSES)


# --- composing examples ------------------------------------------------------------------


def example_draws(seed: int, ids: np.ndarray, w: int) -> np.ndarray:
    """(n, 14 + w) uniforms, row p from example ids[p]'s own generator default_rng([seed, id])."""
    return np.stack([np.random.default_rng([seed, int(i)]).random(_DRAWS + w) for i in ids])


def compose(draws: np.ndarray, w: int) -> dict[str, np.ndarray]:
    """Who is who in each example, from its uniforms (vectorised over examples).

    language (n,): index of the audio's language among the w;   class (n,): the digit c;
    text_class (n, w): class named in each language's word (c for the audio's language,
    w-1 distinct others elsewhere);   slot (n, w): language of the word in each text slot;
    position (n,): the slot holding the audio language's word.
    """
    n = draws.shape[0]
    language = np.minimum((draws[:, 0] * w).astype(np.int64), w - 1)
    cls = np.minimum((draws[:, 1] * NUM_CLASSES).astype(np.int64), NUM_CLASSES - 1)
    keys = draws[:, 2:12].copy()  # (n, 10) one random key per class
    keys[np.arange(n), cls] = 2.0  # c sorts last, so the first w-1 are other classes
    others = np.argsort(keys, axis=1, kind="stable")[:, : w - 1]  # (n, w-1)
    lang = np.arange(w)[None, :]  # (1, w)
    column = np.clip(lang - (lang > language[:, None]), 0, max(w - 2, 0))  # skip L's column
    text_class = np.where(lang == language[:, None], cls[:, None],
                          np.take_along_axis(others, column, axis=1))  # (n, w)
    slot = np.argsort(draws[:, _DRAWS : _DRAWS + w], axis=1, kind="stable")  # (n, w)
    position = np.argmax(slot == language[:, None], axis=1)
    return {"language": language, "class": cls, "text_class": text_class, "slot": slot,
            "position": position}


def texts(assets: Assets, plan: dict[str, np.ndarray], w: int) -> list[str]:
    """The texts as strings, words in slot order (for inspection and the tests)."""
    words = [assets.words[lang] for lang in assets.languages[:w]]
    out = []
    for slots, classes in zip(plan["slot"], plan["text_class"], strict=True):
        out.append(" ".join(words[lang][classes[lang]] for lang in slots))
    return out


def text_features(assets: Assets, plan: dict[str, np.ndarray], w: int, dim: int
                  ) -> np.ndarray:
    """(n, dim) float32: HashingVectorizer(char_wb 1-3-grams, l2) of each text.

    `char_wb` n-grams never cross a word boundary, so a text's counts are the sum of its
    words' counts: hash the 10·w words once and add rows (equal to vectorising the joined
    strings; a test checks it)."""
    vocabulary = [word for lang in assets.languages[:w] for word in assets.words[lang]]
    counts = _hasher(dim).transform(vocabulary).toarray().astype(np.float32)  # (10 w, dim)
    x = np.zeros((plan["text_class"].shape[0], dim), dtype=np.float32)
    for lang in range(w):  # one word per language: add its row, never an (n, w, dim) array
        x += counts[lang * NUM_CLASSES + plan["text_class"][:, lang]]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def _hasher(dim: int, norm: str | None = None) -> Any:
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(analyzer="char_wb", ngram_range=(1, 3), n_features=dim,
                             alternate_sign=False, norm=norm, lowercase=False)


def _audio(assets: Assets, plan: dict[str, np.ndarray], u: np.ndarray,
           split_index: np.ndarray, w: int) -> np.ndarray:
    """(n, 220) float32: a bank utterance of the example's language in its split."""
    train = assets.audio["train"][:w].astype(np.float64).reshape(-1, assets.feature_dim)
    mean, std = train.mean(0), train.std(0) + 1e-6  # the w languages' train bank
    out = np.empty((u.size, assets.feature_dim), dtype=np.float32)
    for s, split in enumerate(SPLITS):
        rows = np.flatnonzero(split_index == s)
        bank = assets.audio[split]  # (languages, bank size, 220) float16
        pick = np.minimum((u[rows] * bank.shape[1]).astype(np.int64), bank.shape[1] - 1)
        out[rows] = (bank[plan["language"][rows], pick] - mean) / std
    return out


def _image(cls: np.ndarray, u: np.ndarray, split_index: np.ndarray,
           rng: np.random.Generator) -> np.ndarray:
    """(n, 64) float32 in [0, 1]: a digit image of the example's class from its split's pool."""
    images, pools = image_pools(rng)
    out = np.empty((cls.size, images.shape[1]), dtype=np.float32)
    for s, split in enumerate(SPLITS):
        for c in range(NUM_CLASSES):
            rows = np.flatnonzero((split_index == s) & (cls == c))
            pool = pools[split][c]
            out[rows] = images[pool[np.minimum((u[rows] * pool.size).astype(np.int64),
                                               pool.size - 1)]]
    return out


def image_pools(rng: np.random.Generator) -> tuple[np.ndarray, dict[str, list[np.ndarray]]]:
    """The digits (1797, 64) float32 in [0, 1] and, per split and class, the indices of its
    images: each class's images permuted by `rng` and cut by IMAGE_POOLS (disjoint)."""
    digits = _digits()
    images, target = digits
    pools: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
    for c in range(NUM_CLASSES):
        members = rng.permutation(np.flatnonzero(target == c))
        n_val = round(IMAGE_POOLS["val"] * members.size)
        n_test = round(IMAGE_POOLS["test"] * members.size)
        cuts = [members.size - n_val - n_test, members.size - n_test]
        for split, part in zip(SPLITS, np.split(members, cuts), strict=True):
            pools[split].append(part)
    return images, pools


@functools.cache
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (np.asarray(bunch.data, dtype=np.float32) / 16.0)  # (1797, 64)
    images.setflags(write=False)
    return images, np.asarray(bunch.target, dtype=np.int64)


# --- the shipped assets ------------------------------------------------------------------


@dataclass(frozen=True)
class Assets:
    """The shipped banks: audio[split] (languages, bank size, 220) float16, utterances[split]
    (languages, bank size, 4) int16 [number, variant, speed, pitch], words[lang] (10,)."""

    folder: Path
    manifest: dict
    languages: tuple[str, ...]
    words: dict[str, list[str]]
    audio: dict[str, np.ndarray]
    utterances: dict[str, np.ndarray]

    @property
    def feature_dim(self) -> int:
        return int(self.manifest["feature_dim"])


@functools.cache
def load_assets(folder: Path = ASSETS) -> Assets:
    """Read and checksum-verify the assets in `folder` (cached per folder)."""
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise AssetError(f"{manifest_path}: missing; the m3_lite assets are not installed "
                         "(rebuild: python -m robustlab.data.m3_lite_build)")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    blobs = {name: _verified(folder / name, digest)
             for name, digest in manifest["sha256"].items()}
    table = json.loads(blobs["words.json"].decode("utf-8"))
    audio = {s: _array(blobs[f"audio_{s}.npy"]) for s in SPLITS}
    utterances = {s: _array(blobs[f"utterances_{s}.npy"]) for s in SPLITS}
    return Assets(folder=folder, manifest=manifest, languages=tuple(table["languages"]),
                  words=table["words"], audio=audio, utterances=utterances)


def _verified(path: Path, digest: str) -> bytes:
    if not path.is_file():
        raise AssetError(f"{path}: missing (listed in manifest.json); reinstall robustlab "
                         "or rebuild: python -m robustlab.data.m3_lite_build")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != digest:
        raise AssetError(f"{path}: SHA-256 differs from manifest.json; the file is corrupt or "
                         "was changed (rebuild: python -m robustlab.data.m3_lite_build)")
    return data


def _array(data: bytes) -> np.ndarray:
    import io

    array = np.load(io.BytesIO(data), allow_pickle=False)
    array.setflags(write=False)
    return array
