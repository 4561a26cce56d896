import numpy as np
import pytest

from lstm_lab.data.series import sine_series
from lstm_lab.data.windows import StandardScaler, create_sequences, make_splits, split_bounds


def test_sine_series_is_the_classic_sin_t_by_default():
    y = sine_series()
    assert y.shape == (1000, 1)
    np.testing.assert_allclose(y[:, 0], np.sin(np.linspace(0, 100, 1000)), atol=1e-6)


def test_sine_series_sums_waves_and_adds_seeded_noise():
    waves = [{"frequency": 2.0, "amplitude": 0.5, "phase": 1.0}, {"frequency": 0.5}]
    y = sine_series(n_points=50, t_end=10, waves=waves)[:, 0]
    t = np.linspace(0, 10, 50)
    np.testing.assert_allclose(y, 0.5 * np.sin(2 * t + 1) + np.sin(0.5 * t), atol=1e-6)
    noisy = sine_series(n_points=50, t_end=10, waves=waves, noise=0.1, seed=3)
    assert np.array_equal(noisy, sine_series(n_points=50, t_end=10, waves=waves, noise=0.1, seed=3))
    assert not np.array_equal(
        noisy, sine_series(n_points=50, t_end=10, waves=waves, noise=0.1, seed=4)
    )
    assert 0.05 < np.std(noisy[:, 0] - y) < 0.2


@pytest.mark.parametrize("window,horizon", [(1, 1), (3, 1), (4, 2), (5, 3)])
def test_create_sequences_shapes_and_values(window, horizon):
    series = np.arange(20, dtype=np.float32)
    x, y = create_sequences(series, window, horizon)
    n = 20 - window - horizon + 1
    assert x.shape == (n, window, 1) and y.shape == (n, horizon)
    for i in (0, n - 1):
        np.testing.assert_array_equal(x[i, :, 0], series[i : i + window])
        np.testing.assert_array_equal(y[i], series[i + window : i + window + horizon])


def test_create_sequences_targets_column_zero_of_multivariate_series():
    series = np.stack([np.arange(10), 100 + np.arange(10)], axis=1).astype(np.float32)
    x, y = create_sequences(series, 3, 1)
    assert x.shape == (7, 3, 2)
    np.testing.assert_array_equal(y[:, 0], np.arange(3, 10))


def test_create_sequences_refuses_a_series_shorter_than_one_window():
    with pytest.raises(ValueError, match="holds no window"):
        create_sequences(np.arange(5.0), 5, 1)


def test_splits_are_chronological_and_cover_the_series():
    bounds = split_bounds(1000, 0.7, 0.15)
    assert bounds == {"train": (0, 700), "val": (700, 850), "test": (850, 1000)}


def test_no_window_reaches_into_a_later_split():
    # Values equal their time index, so every window tells where it came from.
    series = np.arange(100, dtype=np.float32)
    splits, scaler = make_splits(series, window=5, horizon=2, train=0.6, val=0.2)
    bounds = split_bounds(100, 0.6, 0.2)
    for name, (x, y) in splits.items():
        start, end = bounds[name]
        times_x = scaler.inverse_target(x[..., 0])
        times_y = scaler.inverse_target(y)
        assert times_x.min() >= start - 1e-3 and times_y.max() <= end - 1 + 1e-3, name
        # every target of the split is predicted, except the first `window` steps
        assert len(y) == (end - start) - 5 - 2 + 1


def test_scaler_is_fitted_on_the_training_split_only():
    series = np.concatenate([np.zeros(70), np.full(30, 1000.0)]).astype(np.float32)
    series[:70] = np.random.default_rng(0).normal(5.0, 2.0, 70)
    splits, scaler = make_splits(series, window=3, horizon=1, train=0.7, val=0.15)
    assert scaler.mean[0] == pytest.approx(series[:70].mean(), rel=1e-5)
    assert scaler.std[0] == pytest.approx(series[:70].std(), rel=1e-5)
    x_train, _ = splits["train"]
    assert abs(x_train.mean()) < 0.3  # train is standardised ...
    assert (
        splits["test"][0].mean() > 100
    )  # ... and test keeps the train scale, unseen values stay large


def test_scaler_round_trip_and_constant_columns():
    values = np.array([[1.0, 5.0], [3.0, 5.0]], dtype=np.float32)
    scaler = StandardScaler.fit(values)
    scaled = scaler.transform(values)
    np.testing.assert_allclose(scaled[:, 1], 0.0)  # constant column: std treated as 1, no NaN
    np.testing.assert_allclose(scaler.inverse_target(scaled[:, 0]), values[:, 0])


def test_make_splits_names_the_split_too_short_for_a_window():
    with pytest.raises(ValueError, match="val split has 15 steps"):
        make_splits(np.arange(100.0), window=20, horizon=1, train=0.7, val=0.15)
