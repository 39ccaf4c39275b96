"""symile_xor: no pairwise information about b, while (a, c) determine b on the XOR rows."""

from __future__ import annotations

import numpy as np
import pytest

from robustlab.data import DATASETS, SPLITS
from robustlab.data.symile_xor import all_bit_vectors, bits_to_index

XOR = DATASETS.get("symile_xor")


def _codes(ds):
    """Per modality, each example's bit vector as an integer code, over all splits."""
    return {m: np.concatenate([ds.split(s).candidate_id[m] for s in SPLITS])
            for m in ds.modalities}


def mutual_information_bits(x: np.ndarray, y: np.ndarray) -> float:
    """Plug-in I(X; Y) in bits of two integer-coded samples."""
    _, xi = np.unique(x, return_inverse=True)
    _, yi = np.unique(y, return_inverse=True)
    joint = np.zeros((xi.max() + 1, yi.max() + 1))
    np.add.at(joint, (xi, yi), 1.0)
    joint /= joint.sum()
    outer = joint.sum(1, keepdims=True) @ joint.sum(0, keepdims=True)
    nz = joint > 0
    return float((joint[nz] * np.log2(joint[nz] / outer[nz])).sum())


# d = 3: 64 joint cells; with 20000 samples the plug-in bias is ~(63 / (2 n ln 2)) ≈ 0.002 bits
@pytest.mark.parametrize("p_hat", [0.5, 1.0])
def test_pairs_carry_no_information_about_b_but_the_triple_does(p_hat):
    d = 3
    codes = _codes(XOR(d=d, p_hat=p_hat, n=20000).build(0))
    a, b, c = codes["a"], codes["b"], codes["c"]
    assert mutual_information_bits(a, b) < 0.01
    assert mutual_information_bits(c, b) < 0.01
    joint_ac = a * 2**d + c
    # the plug-in estimate over 512 cells is biased up by ~0.02 bits
    assert mutual_information_bits(joint_ac, b) == pytest.approx(
        triple_information(d, p_hat), abs=0.05)


def triple_information(d: int, p_hat: float) -> float:
    """Exact I(b; a, c) in bits. c != a proves the XOR rule, so b = a XOR c is known; when
    c == a, b = 0 has posterior 2^-d / P(c = a) and the other 2^d - 1 values share the rest."""
    same = (1 - p_hat) + p_hat * 2.0**-d  # P(c = a)
    zero = 2.0**-d / same
    rest = (1 - zero) / (2**d - 1)
    entropy = -zero * np.log2(zero) - (2**d - 1) * rest * np.log2(rest) if rest > 0 else 0.0
    return d - same * entropy


def test_triple_information_reference_values():
    assert triple_information(3, 1.0) == pytest.approx(3.0)
    assert triple_information(3, 0.0) == pytest.approx(0.0)


def test_a_and_c_are_independent_only_at_p_hat_one():
    codes = _codes(XOR(d=3, p_hat=1.0, n=20000).build(1))
    assert mutual_information_bits(codes["a"], codes["c"]) < 0.01
    codes = _codes(XOR(d=3, p_hat=0.5, n=20000).build(1))
    assert mutual_information_bits(codes["a"], codes["c"]) > 0.2


def test_xor_rows_determine_b_and_the_others_copy_a():
    ds = XOR(d=5, p_hat=0.7, n=4000).build(2)
    is_xor = np.concatenate([ds.split(s).metadata["is_xor"].to_numpy() for s in SPLITS])
    x = {m: np.concatenate([ds.split(s).features[m] for s in SPLITS]) for m in "abc"}
    np.testing.assert_array_equal(np.logical_xor(x["a"], x["c"])[is_xor], x["b"][is_xor] > 0)
    np.testing.assert_array_equal(x["c"][~is_xor], x["a"][~is_xor])
    assert abs(is_xor.mean() - 0.7) < 4 * np.sqrt(0.21 / 4000)
    assert set(np.unique(x["b"])) == {0.0, 1.0}


def test_candidate_bank_is_every_bit_vector_once():
    bank = all_bit_vectors(4)
    assert bank.shape == (16, 4) and bank.dtype == np.float32
    assert np.unique(bank, axis=0).shape == (16, 4)
    np.testing.assert_array_equal(bits_to_index(bank), np.arange(16))
    ds = XOR(d=4, n=300).build(0)
    assert all(ds.candidate_banks[m].shape == (16, 4) for m in ds.modalities)


@pytest.mark.parametrize(("field", "value"), [("p_hat", 1.5), ("p_hat", -0.5), ("d", 0),
                                              ("d", 17), ("n", 1), ("test_fraction", 1.0)])
def test_invalid_options_raise_naming_field_and_value(field, value):
    with pytest.raises(ValueError, match=rf"symile_xor\.{field}.*{value}"):
        XOR(**{field: value})
