"""Build the shipped assets of `m3_lite`: audio-feature banks and the digit-word table.

    python -m robustlab.data.m3_lite_build                 # rewrite robustlab/data/m3_lite_assets
    python -m robustlab.data.m3_lite_build --out /tmp/m3   # somewhere else
    python -m robustlab.data.m3_lite_build --survey        # which languages are usable

Needs the `espeak-ng` program (Debian package `espeak-ng`) and the `build` extra
(`pip install -e '.[build]'`: `num2words`). Loading the dataset needs neither.

The audio bank holds, per language and split, `BANK_SIZES[split]` utterances: espeak-ng
reading a number from 10-999 (the numeral, so espeak-ng's own number rules say it in the
language) with a voice variant, speed and pitch. Everything about utterance k of language L
in split s comes from `numpy.random.default_rng([BUILD_SEED, crc32(L), s, k])`, so the build
is deterministic for a given espeak-ng version and any single utterance can be rebuilt on its
own (the regeneration test does that). The numbers are partitioned between the splits, so a
test utterance says a number no train utterance says, in a voice drawn afresh. Each WAV is
written to a temporary folder with `espeak-ng -w`, turned into `FEATURE_DIM` features
(`m3_lite_audio.audio_features`) and deleted; the banks are stored as float16.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.io import wavfile

from robustlab.data.m3_lite_audio import FEATURE_DIM, audio_features
from robustlab.results import atomic_write_bytes

SPLITS = ("train", "val", "test")
LANGUAGES = ("en", "de", "es", "ru", "tr", "fi", "hu", "sv", "cs", "id")  # w = 2, 5, 10: prefixes
BANK_SIZES = {"train": 800, "val": 100, "test": 100}  # utterances per language
NUMBER_SPLIT = {"train": 790, "val": 100, "test": 100}  # the 990 numbers 10-999, partitioned
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
            "klatt", "klatt3", "croak", "whisper")
SPEED = (130, 210)  # words per minute, inclusive
PITCH = (25, 75)  # espeak-ng pitch 0-99, inclusive
BUILD_SEED = 13_2024
FORMAT = 1
DEFAULT_OUT = Path(__file__).with_name("m3_lite_assets")


@dataclass(frozen=True)
class Utterance:
    """What espeak-ng is asked to say: `number` in `language` with a voice."""

    language: str
    number: int
    variant: int  # index into VARIANTS
    speed: int
    pitch: int

    def command(self, wav: Path) -> list[str]:
        voice = f"{self.language}+{VARIANTS[self.variant]}"
        return ["espeak-ng", "-v", voice, "-s", str(self.speed), "-p", str(self.pitch),
                "-w", str(wav), str(self.number)]

    def row(self) -> tuple[int, int, int, int]:
        return self.number, self.variant, self.speed, self.pitch


def split_numbers() -> dict[str, np.ndarray]:
    """The numbers 10-999 partitioned between the splits (fixed by BUILD_SEED)."""
    order = 10 + np.random.default_rng([BUILD_SEED]).permutation(990)
    cuts = np.cumsum([NUMBER_SPLIT[s] for s in SPLITS])[:-1]
    return {s: np.sort(part) for s, part in zip(SPLITS, np.split(order, cuts), strict=True)}


def plan(language: str, split: str, k: int, numbers: dict[str, np.ndarray]) -> Utterance:
    """Utterance k of `language` in `split`, from its own generator."""
    key = [BUILD_SEED, zlib.crc32(language.encode()), SPLITS.index(split), k]
    rng = np.random.default_rng(key)
    pool = numbers[split]
    return Utterance(
        language=language,
        number=int(pool[rng.integers(pool.size)]),
        variant=int(rng.integers(len(VARIANTS))),
        speed=int(rng.integers(SPEED[0], SPEED[1] + 1)),
        pitch=int(rng.integers(PITCH[0], PITCH[1] + 1)),
    )


def espeak_version() -> str | None:
    """espeak-ng's version ("1.51"), or None when the program is not installed."""
    try:
        done = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True,
                              timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"text-to-speech:\s*([0-9][^\s]*)", done.stdout)
    return found.group(1) if done.returncode == 0 and found else None


def synthesize(utterance: Utterance, wav: Path) -> np.ndarray:
    """(FEATURE_DIM,) float64 features of one utterance (its WAV lives at `wav` briefly)."""
    done = subprocess.run(utterance.command(wav), capture_output=True, text=True, timeout=60,
                          check=False)
    if done.returncode != 0 or not wav.is_file():
        raise RuntimeError(f"espeak-ng failed on {utterance}: {done.stderr.strip()}")
    rate, signal = wavfile.read(wav)
    wav.unlink()
    return audio_features(signal, rate)


def features_of(utterances: Sequence[Utterance], jobs: int) -> np.ndarray:
    """(len(utterances), FEATURE_DIM) float64, in order (espeak-ng runs `jobs` at a time)."""
    with tempfile.TemporaryDirectory(prefix="m3_lite_") as tmp, \
            ThreadPoolExecutor(max_workers=jobs) as pool:
        wavs = [Path(tmp) / f"{k}.wav" for k in range(len(utterances))]
        rows = list(pool.map(synthesize, utterances, wavs))
    return np.stack(rows) if rows else np.zeros((0, FEATURE_DIM))


def word_table(languages: Sequence[str]) -> dict[str, list[str]]:
    """The digit names 0-9 per language from num2words; all 10·w must be distinct."""
    from num2words import num2words

    table = {lang: [str(num2words(d, lang=lang)).strip().lower() for d in range(10)]
             for lang in languages}
    check_distinct(table)
    return table


def check_distinct(table: dict[str, list[str]]) -> None:
    """Every word of every language differs from every other (a repeated word would say two
    (language, class) pairs at once and break the construction)."""
    seen: dict[str, str] = {}
    for lang, words in table.items():
        if len(words) != 10:
            raise ValueError(f"m3_lite words: {lang!r} has {len(words)} digit names, not 10")
        for digit, word in enumerate(words):
            where = f"{lang}:{digit}"
            if word in seen:
                raise ValueError(f"m3_lite words: {word!r} is both {seen[word]} and {where}")
            seen[word] = where


def build(out: Path, languages: Sequence[str], sizes: dict[str, int], jobs: int) -> dict:
    """Write the banks, the word table and the manifest into `out`; return the manifest."""
    version = espeak_version()
    if version is None:
        raise RuntimeError("espeak-ng is not installed (Debian: apt-get install espeak-ng)")
    words = word_table(languages)
    numbers = split_numbers()
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for split in SPLITS:
        utterances = [plan(lang, split, k, numbers)
                      for lang in languages for k in range(sizes[split])]
        print(f"{split}: {len(utterances)} utterances", file=sys.stderr, flush=True)
        shape = (len(languages), sizes[split])
        feats = features_of(utterances, jobs).reshape(*shape, FEATURE_DIM)
        table = np.array([u.row() for u in utterances], dtype=np.int16).reshape(*shape, 4)
        files[f"audio_{split}.npy"] = _npy(feats.astype(np.float16))
        files[f"utterances_{split}.npy"] = _npy(table)
    files["words.json"] = _json({"languages": list(languages), "words": words})
    for name, data in files.items():
        atomic_write_bytes(out / name, data)
    manifest = _manifest(version, languages, sizes, files)
    atomic_write_bytes(out / "manifest.json", _json(manifest))
    return manifest


def _manifest(version: str, languages: Sequence[str], sizes: dict[str, int],
              files: dict[str, bytes]) -> dict:
    import importlib.metadata

    return {
        "format": FORMAT,
        "espeak_ng": version,
        "num2words": importlib.metadata.version("num2words"),
        "build_seed": BUILD_SEED,
        "languages": list(languages),
        "bank_sizes": dict(sizes),
        "number_split": dict(NUMBER_SPLIT),
        "variants": list(VARIANTS),
        "speed": list(SPEED),
        "pitch": list(PITCH),
        "feature_dim": FEATURE_DIM,
        "utterance_columns": ["number", "variant", "speed", "pitch"],
        "sha256": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
    }


def _npy(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _json(value: object) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode()


# --- which languages are usable --------------------------------------------------------


def reads_numerals(language: str) -> bool:
    """espeak-ng has a voice for `language` and says "347" as a number in it: the phonemes
    differ from reading the digits "3 4 7" one by one, and no switch to another language
    (espeak-ng marks one with "(xx)") occurs."""
    def ipa(text: str) -> str | None:
        done = subprocess.run(["espeak-ng", "-v", language, "-q", "--ipa", text],
                              capture_output=True, text=True, timeout=30, check=False)
        ok = done.returncode == 0 and "does not exist" not in done.stderr
        return done.stdout.strip() if ok else None

    whole, digits = ipa("347"), ipa("3 4 7")
    return bool(whole) and whole != digits and "(" not in (whole or "")


def survey(preferred: Iterable[str] = LANGUAGES) -> list[dict[str, object]]:
    """Every num2words language: does espeak-ng read numerals in it, are its digit names
    distinct from each other and from those of the languages accepted before it (`preferred`
    first, then alphabetically)."""
    from num2words import CONVERTER_CLASSES, num2words

    order = list(dict.fromkeys([*preferred, *sorted(CONVERTER_CLASSES)]))
    accepted: dict[str, list[str]] = {}
    rows: list[dict[str, object]] = []
    for lang in order:
        try:
            words = [str(num2words(d, lang=lang)).strip().lower() for d in range(10)]
        except (NotImplementedError, ValueError, TypeError, KeyError, AttributeError):
            continue
        speaks = reads_numerals(lang)
        taken = {w for ws in accepted.values() for w in ws}
        distinct = len(set(words)) == 10 and not taken & set(words)
        if speaks and distinct:
            accepted[lang] = words
        rows.append({"language": lang, "reads_numerals": speaks, "distinct": distinct,
                     "usable": speaks and distinct, "words": words})
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m robustlab.data.m3_lite_build",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="asset folder")
    parser.add_argument("--jobs", type=int, default=2, help="espeak-ng processes at once")
    parser.add_argument("--survey", action="store_true", help="list usable languages, exit")
    args = parser.parse_args(argv)
    if args.survey:
        rows = survey()
        for row in rows:
            print(f"{row['language']:>6}  numerals={row['reads_numerals']!s:5}  "
                  f"distinct={row['distinct']!s:5}  {' '.join(row['words'])}")  # type: ignore[arg-type]
        print(f"usable: {sum(bool(r['usable']) for r in rows)} of {len(rows)}")
        return 0
    manifest = build(args.out, LANGUAGES, BANK_SIZES, args.jobs)
    print(json.dumps({k: manifest[k] for k in ("espeak_ng", "languages", "bank_sizes")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
