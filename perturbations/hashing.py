"""Counter-based randomness keyed by example id: vectorised, order- and chunk-free.

Every random number an operator uses is a pure function of (stream key, example id, counter):

    stream  = blake2b(seed, purpose, operator identity)            one uint64 per call
    key_i   = mix64(example_id_i XOR stream)                       one uint64 per example
    h_ij    = mix64(key_i + (j + 1) * GOLDEN)                      splitmix64's j-th output

`mix64` is the splitmix64 finaliser, a bijection on uint64, so distinct ids always get
distinct keys (exact ranking without ties) and a row's draws never depend on which other rows
share the call. All of it is whole-array numpy arithmetic; no Python loop runs per example.
"""

from __future__ import annotations

import hashlib

import numpy as np

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_S32, _S40 = np.uint64(32), np.uint64(40)
_LOW24 = np.uint64(0xFFFFFF)
_LOW32 = np.uint64(0xFFFFFFFF)
_TWO_PI = np.float32(2.0 * np.pi)
_INV24 = np.float32(2.0**-24)

# Rows per block in the element-level generators: (block, d) uint64 scratch stays in cache.
BLOCK_ROWS = 4096


def stream_key(seed: int, *parts: object) -> np.uint64:
    """A 64-bit key naming one random stream, from the seed and any identifying parts."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ValueError(f"seed: must be an integer, got {seed!r}")
    text = "\x1f".join([str(int(seed)), *(str(p) for p in parts)])
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return np.uint64(int.from_bytes(digest, "little"))


def mix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser applied in place to a uint64 array (returned for chaining)."""
    x ^= x >> _S30
    x *= _M1
    x ^= x >> _S27
    x *= _M2
    x ^= x >> _S31
    return x


def example_keys(example_ids: np.ndarray, stream: np.uint64) -> np.ndarray:
    """(N,) uint64 per-example keys; a bijection of the ids for a fixed stream."""
    ids = np.asarray(example_ids)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"example_ids: must be a 1-D integer array, got {ids.dtype}{ids.shape}")
    keys = ids.astype(np.int64).view(np.uint64) ^ stream  # copy: never touches the caller's ids
    return mix64(keys)


def counter_hashes(keys: np.ndarray, count: int, offset: int = 0) -> np.ndarray:
    """(n, count) uint64: outputs offset+1 .. offset+count of each key's splitmix64 stream."""
    steps = (np.arange(offset + 1, offset + count + 1, dtype=np.uint64) * GOLDEN)  # (count,)
    return mix64(keys[:, None] + steps[None, :])  # (n, count)


def uniforms(keys: np.ndarray, count: int, offset: int = 0) -> np.ndarray:
    """(n, count) float32 in [0, 1), 24 bits each; two uniforms per 64-bit hash."""
    h = counter_hashes(keys, (count + 1) // 2, offset)  # (n, ceil(count/2))
    high = (h >> _S40).astype(np.float32)
    low = ((h >> np.uint64(8)) & _LOW24).astype(np.float32)
    out = np.concatenate([high, low], axis=1)[:, :count]  # (n, count)
    out *= _INV24
    return out


def normals(keys: np.ndarray, count: int) -> np.ndarray:
    """(n, count) float32 standard normals by Box–Muller, two per 64-bit hash.

    The 24-bit radius uniform truncates the tails at |z| ≤ sqrt(2 ln 2^24) ≈ 5.77.
    """
    h = counter_hashes(keys, (count + 1) // 2)  # (n, ceil(count/2))
    u1 = ((h >> _S40) + np.uint64(1)).astype(np.float32)  # in (0, 2^24]: log never sees 0
    u1 *= _INV24
    theta = (h & _LOW24).astype(np.float32)
    theta *= _INV24 * _TWO_PI
    np.log(u1, out=u1)
    u1 *= np.float32(-2.0)
    np.sqrt(u1, out=u1)  # the radius r
    out = np.concatenate([u1 * np.cos(theta), u1 * np.sin(theta)], axis=1)
    return out[:, :count]  # (n, count)


def below(keys: np.ndarray, count: int, probability: float) -> np.ndarray:
    """(n, count) bool: each entry True with the given probability (32-bit resolution)."""
    h = counter_hashes(keys, (count + 1) // 2)  # (n, ceil(count/2))
    threshold = np.uint64(min(round(probability * 2.0**32), 2**32))
    out = np.concatenate([(h >> _S32) < threshold, (h & _LOW32) < threshold], axis=1)
    return out[:, :count]


def integers(keys: np.ndarray, count: int, high: int, offset: int = 0) -> np.ndarray:
    """(n, count) int64 in [0, high) by multiply-shift on 32-bit halves (bias < high / 2^32)."""
    h = counter_hashes(keys, count, offset)  # (n, count)
    return (((h >> _S32) * np.uint64(high)) >> _S32).astype(np.int64)


def rank_select(keys: np.ndarray, count: int) -> np.ndarray:
    """(N,) bool: True for the `count` rows with the smallest keys.

    Keys are distinct (a bijection of distinct ids), so the chosen set depends only on the
    set of ids, never on their order; a smaller count chooses a subset of a larger one.
    """
    n = keys.shape[0]
    chosen = np.zeros(n, dtype=bool)
    if count >= n:
        chosen[:] = True
    elif count > 0:
        chosen[np.argpartition(keys, count - 1)[:count]] = True
    return chosen


def hash_order(keys: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """`rows` sorted by their keys: a random order that ignores the input order."""
    return rows[np.argsort(keys[rows], kind="stable")]
