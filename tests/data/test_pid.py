"""pid: the label lives in the blocks the setting names (linear-probe checks on raw inputs)."""

from __future__ import annotations

import pytest
from sklearn.linear_model import LogisticRegression

from robustlab.data import DATASETS

PID = DATASETS.get("pid")


def _probe(ds, make_features) -> float:
    """Test accuracy of a logistic regression trained on train."""
    train, test = ds.split("train"), ds.split("test")
    model = LogisticRegression(max_iter=2000).fit(make_features(train), train.label)
    return float(model.score(make_features(test), test.label))


def _single(m):
    return lambda split: split.features[m]


def _bilinear(m1, m2):
    """All products x_m1[i] * x_m2[j]: the features in which a sign-XOR label is linear."""
    def features(split):
        x, y = split.features[m1], split.features[m2]
        return (x[:, :, None] * y[:, None, :]).reshape(len(split), -1)  # (N, d1 * d2)
    return features


def _build(setting, **extra):
    options = {"n": 4000, "latent_dim": 2, "dim": 8, "test_fraction": 0.2, **extra}
    return PID(setting=setting, **options).build(0)


def test_redundancy_every_modality_alone_predicts():
    ds = _build("redundancy")
    assert ds.num_classes == 2
    assert all(_probe(ds, _single(m)) > 0.9 for m in "abc")


@pytest.mark.parametrize("unique", ["a", "c"])
def test_uniqueness_only_the_named_modality_predicts(unique):
    ds = _build("uniqueness", unique_modality=unique)
    for m in "abc":
        accuracy = _probe(ds, _single(m))
        assert accuracy > 0.9 if m == unique else accuracy < 0.6, (m, accuracy)


def test_synergy_no_single_modality_but_a_and_b_jointly():
    ds = _build("synergy")
    assert all(_probe(ds, _single(m)) < 0.6 for m in "abc")
    assert _probe(ds, _bilinear("a", "b")) > 0.85
    assert _probe(ds, _bilinear("a", "c")) < 0.6


def test_labels_are_balanced():
    for setting in ("redundancy", "uniqueness", "synergy"):
        label = _build(setting).split("train").label
        assert abs(label.mean() - 0.5) < 0.05


@pytest.mark.parametrize(("field", "value"), [("setting", "synergyy"), ("unique_modality", "d"),
                                              ("dim", 7), ("noise_std", -0.1), ("latent_dim", 0)])
def test_invalid_options_raise_naming_field_and_value(field, value):
    with pytest.raises(ValueError, match=rf"pid\.{field}.*{value}"):
        PID(**{field: value})
