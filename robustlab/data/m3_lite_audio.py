"""Utterance-level audio features for `m3_lite`, with numpy and scipy only.

One utterance (a mono waveform) becomes a fixed vector of `FEATURE_DIM` = 220 numbers: the
statistics a classic language-identification front end computes (log-mel and MFCC statistics,
deltas, a coarse temporal profile, the duration). Frames are 512 samples (23 ms at 22.05 kHz)
every 10 ms under a Hann window; silence at both ends (frames more than `TRIM_DB` below the
loudest) is trimmed first, so the leading and trailing pauses of the synthesizer do not count.

    log-mel mean, std                40 + 40   40 mel bands, 60 Hz - 8 kHz (HTK mel scale)
    MFCC mean, std                   13 + 13   DCT-II (orthonormal) of the log-mel frames
    delta-MFCC mean, std             13 + 13   regression deltas over ±2 frames
    delta-delta-MFCC std             13
    MFCC means of 4 equal segments   52        the coarse temporal profile
    log-energy of 16 equal segments  16        relative to the loudest segment
    log-energy std, spectral centroid mean and std (kHz), spectral flatness mean,
    zero-crossing rate mean and std  6
    log duration (s)                 1

Everything is float64 and deterministic: the same waveform gives the same vector.
"""

from __future__ import annotations

import numpy as np
from scipy.fft import dct, rfft

N_FFT = 512
HOP_SECONDS = 0.010
N_MELS = 40
N_MFCC = 13
SEGMENTS = 4
ENERGY_SEGMENTS = 16
FMIN, FMAX = 60.0, 8000.0
TRIM_DB = 40.0
EPS = 1e-10
FEATURE_DIM = 2 * N_MELS + 5 * N_MFCC + SEGMENTS * N_MFCC + ENERGY_SEGMENTS + 6 + 1
FEATURE_NAMES: tuple[str, ...] = (
    *(f"logmel_mean_{k}" for k in range(N_MELS)),
    *(f"logmel_std_{k}" for k in range(N_MELS)),
    *(f"mfcc_mean_{k}" for k in range(N_MFCC)),
    *(f"mfcc_std_{k}" for k in range(N_MFCC)),
    *(f"dmfcc_mean_{k}" for k in range(N_MFCC)),
    *(f"dmfcc_std_{k}" for k in range(N_MFCC)),
    *(f"ddmfcc_std_{k}" for k in range(N_MFCC)),
    *(f"mfcc_seg{s}_{k}" for s in range(SEGMENTS) for k in range(N_MFCC)),
    *(f"energy_seg{s}" for s in range(ENERGY_SEGMENTS)),
    "energy_std", "centroid_mean_khz", "centroid_std_khz", "flatness_mean",
    "zcr_mean", "zcr_std", "log_duration_s",
)
assert len(FEATURE_NAMES) == FEATURE_DIM == 220


def audio_features(signal: np.ndarray, rate: int) -> np.ndarray:
    """(FEATURE_DIM,) float64 features of a mono waveform `signal` (any numeric dtype;
    integers are read as PCM and scaled to [-1, 1]) sampled at `rate` Hz."""
    x = _as_float(signal)
    frames = _frames(x, rate)  # (T, N_FFT) windowed
    power = np.abs(rfft(frames, axis=1)) ** 2  # (T, N_FFT/2 + 1)
    energy = 10.0 * np.log10(power.sum(axis=1) + EPS)  # (T,) dB
    keep = _voiced_span(energy)
    frames, power, energy = frames[keep], power[keep], energy[keep]
    log_mel = np.log(power @ mel_filterbank(rate).T + EPS)  # (T, N_MELS)
    mfcc = dct(log_mel, type=2, norm="ortho", axis=1)[:, :N_MFCC]  # (T, N_MFCC)
    d1 = deltas(mfcc)
    d2 = deltas(d1)
    hop = round(HOP_SECONDS * rate)
    duration = (frames.shape[0] - 1) * hop / rate + N_FFT / rate
    return np.concatenate([
        log_mel.mean(0), log_mel.std(0), mfcc.mean(0), mfcc.std(0), d1.mean(0), d1.std(0),
        d2.std(0), _segment_means(mfcc, SEGMENTS).ravel(), _energy_profile(energy),
        _spectral_stats(power, frames, rate, energy), [np.log(duration)],
    ])


def _as_float(signal: np.ndarray) -> np.ndarray:
    x = np.asarray(signal)
    if x.ndim != 1:
        raise ValueError(f"audio_features: expected a mono (N,) waveform, got shape {x.shape}")
    if np.issubdtype(x.dtype, np.integer):
        return x.astype(np.float64) / float(np.iinfo(x.dtype).max)
    return x.astype(np.float64)


def _frames(x: np.ndarray, rate: int) -> np.ndarray:
    """(T, N_FFT) Hann-windowed, pre-emphasised frames every 10 ms (zero-padded tail)."""
    hop = round(HOP_SECONDS * rate)
    x = np.append(x[0], x[1:] - 0.97 * x[:-1])  # pre-emphasis
    count = max(1, 1 + int(np.ceil((x.size - N_FFT) / hop)))
    x = np.pad(x, (0, max(0, (count - 1) * hop + N_FFT - x.size)))
    index = np.arange(N_FFT)[None, :] + hop * np.arange(count)[:, None]  # (T, N_FFT)
    return x[index] * np.hanning(N_FFT)


def _voiced_span(energy: np.ndarray) -> slice:
    """First to last frame within TRIM_DB of the loudest (at least one frame)."""
    loud = np.flatnonzero(energy >= energy.max() - TRIM_DB)
    return slice(int(loud[0]), int(loud[-1]) + 1)


def mel_filterbank(rate: int) -> np.ndarray:
    """(N_MELS, N_FFT/2 + 1) triangular filters, equally spaced on the HTK mel scale."""
    def to_mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    top = min(FMAX, rate / 2)
    edges_mel = np.linspace(to_mel(np.array(FMIN)), to_mel(np.array(top)), N_MELS + 2)
    edges = 700.0 * (10.0 ** (edges_mel / 2595.0) - 1.0)  # (N_MELS + 2,) Hz
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / rate)  # (F,)
    low, mid, high = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs - low) / (mid - low)
    falling = (high - freqs) / (high - mid)
    return np.clip(np.minimum(rising, falling), 0.0, None)


def deltas(x: np.ndarray, width: int = 2) -> np.ndarray:
    """(T, k) regression deltas Σ_n n (x[t+n] - x[t-n]) / (2 Σ n²), edges repeated."""
    padded = np.pad(x, ((width, width), (0, 0)), mode="edge")
    t = x.shape[0]
    num = sum(n * (padded[width + n : width + n + t] - padded[width - n : width - n + t])
              for n in range(1, width + 1))
    return np.asarray(num) / (2.0 * sum(n * n for n in range(1, width + 1)))


def _segment_means(x: np.ndarray, parts: int) -> np.ndarray:
    """(parts, k): means of `parts` equal spans of the frames (short inputs repeat frames)."""
    t = x.shape[0]
    bounds = np.linspace(0, t, parts + 1)
    starts = np.minimum(np.floor(bounds[:-1]).astype(int), t - 1)
    stops = np.maximum(np.ceil(bounds[1:]).astype(int), starts + 1)
    return np.stack([x[a:b].mean(0) for a, b in zip(starts, stops, strict=True)])


def _energy_profile(energy: np.ndarray) -> np.ndarray:
    """(ENERGY_SEGMENTS,) segment mean energy in dB relative to the loudest segment, / 10."""
    profile = _segment_means(energy[:, None], ENERGY_SEGMENTS)[:, 0]
    return (profile - profile.max()) / 10.0


def _spectral_stats(power: np.ndarray, frames: np.ndarray, rate: int, energy: np.ndarray
                    ) -> np.ndarray:
    """energy std (/10 dB), centroid mean/std (kHz), flatness mean, zcr mean/std."""
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / rate) / 1000.0  # kHz
    total = power.sum(1) + EPS
    centroid = (power @ freqs) / total  # (T,)
    flatness = np.exp(np.log(power + EPS).mean(1)) / (power.mean(1) + EPS)
    signs = np.signbit(frames)
    zcr = (signs[:, 1:] != signs[:, :-1]).mean(1)
    return np.array([energy.std() / 10.0, centroid.mean(), centroid.std(), flatness.mean(),
                     zcr.mean(), zcr.std()])
