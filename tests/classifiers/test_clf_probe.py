"""The LBFGS probe: same optimum as scikit-learn, same result from float16 and streamed features, TP@N selection."""

import numpy as np
import pytest
import torch
from clf_helpers import lens_vectors

from lensdb.classifiers.probe import (
    FeatureMatrix,
    LbfgsOptions,
    choose_storage,
    fit_probe,
    logistic_loss_grad,
    predict_logits,
    temporary_matrix,
)
from lensdb.core.errors import InvalidInput


def _data(n=600, n_pos=60, dim=12, seed=0):
    mask = np.zeros(n, bool)
    mask[:n_pos] = True
    x = lens_vectors(n, mask, dim, seed, strength=1.5)
    return x / np.linalg.norm(x, axis=1, keepdims=True), mask.astype(np.uint8)


@pytest.mark.parametrize("C", [1.0, 100.0])
def test_lbfgs_probe_matches_scikit_learn(C):
    from sklearn.linear_model import LogisticRegression

    x, y = _data()
    ref = LogisticRegression(C=C, solver="lbfgs", tol=1e-10, max_iter=10_000).fit(x.astype(np.float64), y)
    fm = FeatureMatrix.from_array(x)
    opts = LbfgsOptions(epochs=30, max_iter=50, l2=1.0 / (C * len(y)), block_rows=128)
    fit = fit_probe(fm, y, fm, y, top_n=60, opts=opts)
    w = fit.weights
    # fit_probe keeps the best TP@N epoch; make sure that is also the converged optimum here.
    w_last, b_last = w, fit.bias
    scale = np.abs(ref.coef_).max()
    assert np.abs(w_last - ref.coef_[0]).max() < 2e-3 * scale
    assert abs(b_last - ref.intercept_[0]) < 2e-3 * max(1.0, abs(ref.intercept_[0]))
    p_ref = ref.predict_proba(x.astype(np.float64))[:, 1]
    p = 1 / (1 + np.exp(-predict_logits(fm, w_last, b_last)))
    assert np.abs(p - p_ref).max() < 1e-3


def test_gradient_matches_autograd():
    x, y = _data(n=300, dim=7)
    w = torch.randn(7) * 0.3
    b = torch.tensor(-0.4)
    loss, gw, gb = logistic_loss_grad(FeatureMatrix.from_array(x), torch.from_numpy(y.astype(np.float32)), w, b,
                                      l2=0.01, block_rows=64)
    wr, br = w.double().clone().requires_grad_(), b.double().clone().requires_grad_()
    z = torch.from_numpy(x).double() @ wr + br
    ref = torch.nn.functional.binary_cross_entropy_with_logits(z, torch.from_numpy(y).double()) + 0.005 * wr @ wr
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-6)
    assert torch.allclose(gw.double(), wr.grad, atol=1e-6) and abs(float(gb) - float(br.grad)) < 1e-6


def test_float16_and_streamed_features_give_the_same_probe(tmp_path):
    x, y = _data(n=800, n_pos=40, dim=16, seed=2)
    opts = LbfgsOptions(epochs=4, max_iter=10, block_rows=100)
    f32 = fit_probe(FeatureMatrix.from_array(x), y, FeatureMatrix.from_array(x), y, 40, opts)
    f16 = fit_probe(FeatureMatrix.from_array(x, "float16"), y, FeatureMatrix.from_array(x), y, 40, opts)
    disk = temporary_matrix(len(x), x.shape[1], memory_gb=1e-9, folder=tmp_path)
    assert disk.path is not None and disk.dtype == "float16"
    disk.write(0, x)
    streamed = fit_probe(disk, y, FeatureMatrix.from_array(x), y, 40, opts)
    assert np.allclose(f16.weights, streamed.weights, atol=1e-5)
    assert np.abs(f16.weights - f32.weights).max() < 0.05 * np.abs(f32.weights).max()
    assert abs(f16.history[-1]["val_tp"] - f32.history[-1]["val_tp"]) <= 1
    path = disk.path
    disk.close()
    assert not path.exists()


def test_model_selection_keeps_the_best_tp_epoch():
    x, y = _data(n=1000, n_pos=50, dim=16, seed=5)
    fit = fit_probe(FeatureMatrix.from_array(x), y, FeatureMatrix.from_array(x), y, 50,
                    LbfgsOptions(epochs=6, max_iter=2, patience=None))
    tps = [h["val_tp"] for h in fit.history]
    assert fit.history[fit.best_epoch - 1]["val_tp"] == max(tps)
    assert fit.best_epoch == max(i + 1 for i, t in enumerate(tps) if t == max(tps))  # ties: the later epoch
    assert len(fit.val_logits) == 1000
    losses = [h["loss"] for h in fit.history]
    assert losses[-1] < losses[0]


def test_storage_choice_follows_the_memory_budget():
    assert choose_storage(1000, 2048, memory_gb=1.0) == ("float32", False)
    assert choose_storage(200_000, 2048, memory_gb=1.0) == ("float16", False)
    assert choose_storage(1_000_000, 2048, memory_gb=1.0) == ("float16", True)


def test_bad_inputs():
    x, y = _data(n=50, n_pos=5, dim=4)
    fm = FeatureMatrix.from_array(x)
    with pytest.raises(InvalidInput, match="both lenses and non-lenses"):
        fit_probe(fm, np.zeros(50), fm, y, 5)
    with pytest.raises(InvalidInput, match="4 dimensions"):
        predict_logits(fm, np.zeros(3), 0.0)
    with pytest.raises(InvalidInput, match="do not fit"):
        fit_probe(fm, y, FeatureMatrix.from_array(np.zeros((5, 3), np.float32)), y[:5], 5)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_parallel_row_ranges_give_the_serial_result(dtype):
    x, y = _data(n=20_000, n_pos=200, dim=24, seed=7)
    fm = FeatureMatrix.from_array(x, dtype)
    w, b, yt = torch.randn(24) * 0.2, torch.tensor(-1.0), torch.from_numpy(y.astype(np.float32))
    serial = logistic_loss_grad(fm, yt, w, b, l2=0.01, block_rows=100, threads=1)
    for threads in (3, 8):  # row ranges in Python threads; large blocks split by BLAS threads
        parallel = logistic_loss_grad(fm, yt, w, b, l2=0.01, block_rows=100, threads=threads)
        assert parallel[0] == pytest.approx(serial[0], rel=1e-9)
        assert torch.allclose(parallel[1], serial[1], atol=1e-7) and torch.allclose(parallel[2], serial[2], atol=1e-7)
    assert np.allclose(predict_logits(fm, w.numpy(), 0.5, threads=3), predict_logits(fm, w.numpy(), 0.5, threads=1),
                       atol=1e-6)
    assert torch.get_num_threads() == 1  # the fixture's setting is restored after the parallel pass
