"""``probe train`` end to end on in-memory vectors: sets, LBFGS, stored model, report and figures."""

import json

import numpy as np
import pytest
from clf_helpers import survey

from lensdb.classifiers.config import ProbeConfig
from lensdb.classifiers.features import ArrayFeatures
from lensdb.classifiers.registry import get_model
from lensdb.classifiers.training import train_probe
from lensdb.core.errors import Conflict, InvalidInput, NotFound


def test_train_stores_the_model_with_its_definition(engine, tmp_path):
    ids, mask, vectors = survey(engine, n=3000, n_lens=40)
    source = ArrayFeatures(ids, vectors, "enc-test")
    config = ProbeConfig(ratio=20, val_ratio=50, epochs=5, max_iter=10, encoder_version="enc-test",
                         protocol="paper")
    run = train_probe(engine, source, config, out_dir=tmp_path, name="p1")
    model = get_model(engine, "p1")
    assert model.kind == "probe" and model.encoder_version == "enc-test"
    assert np.array_equal(model.weights, run.fit.weights) and model.bias == pytest.approx(run.fit.bias)
    assert model.training_set["n_train_pos"] == 28 and model.training_set["n_val_pos"] == 12
    assert model.training_set["n_train_neg"] == 560 and model.training_set["val_ratio_achieved"] == 50
    assert model.params["ratio"] == 20 and model.params["head"]["dim"] == 16
    m = model.metrics
    assert m["top_n"] == 1 and m["val_tp"] <= 1 and 1 <= m["best_epoch"] <= m["epochs_run"] <= 5
    assert len(m["history"]) == m["epochs_run"] and m["figures"]
    assert get_model(engine, model.id).name == "p1"
    report = json.loads((tmp_path / "p1.json").read_text())
    assert report["metrics"]["val_tp"] == m["val_tp"]
    assert (tmp_path / "p1_scores.png").stat().st_size > 1000
    with pytest.raises(Conflict, match="exists already"):
        train_probe(engine, source, config, out_dir=tmp_path, name="p1")


def test_validated_probe_trains_on_every_known_lens_and_is_as_good_as_sklearn(sqlite_engine, tmp_path):
    """The default protocol: every known lens trains the stored model, the penalty is chosen by cross-validated AP,
    and the stored weights are scikit-learn's balanced logistic regression at the chosen C on the same rows."""
    from sklearn.linear_model import LogisticRegression

    ids, mask, vectors = survey(sqlite_engine, n=2000, n_lens=30)
    source = ArrayFeatures(ids, vectors, "enc-test")
    config = ProbeConfig(ratio=20, encoder_version="enc-test", survey=None, mag_z_max=None)
    run = train_probe(sqlite_engine, source, config, out_dir=tmp_path, name="v1")
    model = get_model(sqlite_engine, "v1")
    ts = model.training_set
    assert ts["protocol"] == "validated" and ts["n_known"] == 30 and ts["n_train_pos"] == 30
    assert ts["n_train_neg"] == 600
    sel = model.metrics["selection"]
    assert sel["chosen_c"] in sel["c_grid"] and len(sel["cv_ap"]) == len(sel["c_grid"])
    assert sel["n_eval_pos"] == 30 and model.metrics["cv_ap"] == max(sel["cv_ap"])
    rows = run.sets.ids
    x = source.fetch(rows)
    sk = LogisticRegression(class_weight="balanced", C=sel["chosen_c"], max_iter=5000, tol=1e-8).fit(x, run.sets.labels)
    assert np.allclose(model.weights, sk.coef_[0], atol=2e-3 * np.abs(sk.coef_[0]).max())
    # Graded certainty scales the rows of graded objects only; bad certainties are refused.
    from lensdb.classifiers.sampling import load_pools
    from lensdb.classifiers.selection import balanced_weights
    from lensdb.classifiers.training import build_validated_sets

    pools = load_pools(sqlite_engine, survey=None, mag_z_max=None)
    graded = ids[~mask][:3]
    pools = type(pools)(pools.known_lenses, graded, pools.hard_negatives, pools.candidates)
    sets = build_validated_sets(pools, 20, 0, {int(graded[0]): 0.25, int(ids[0]): 0.1})
    ratio = sets.weights / balanced_weights(sets.labels)
    assert ratio[sets.ids == graded[0]][0] == pytest.approx(0.25)
    assert ratio[sets.ids == graded[1]][0] == pytest.approx(1.0)
    assert ratio[sets.ids == ids[0]][0] == pytest.approx(1.0)  # a known lens always weighs 1
    assert sets.describe()["graded_certainty_mean"] == pytest.approx(0.75)
    with pytest.raises(InvalidInput, match="certainties"):
        build_validated_sets(pools, 20, 0, {int(graded[0]): 1.5})


def test_sweep_trains_every_distinct_ratio_and_draws_fig4(sqlite_engine, tmp_path):
    ids, mask, vectors = survey(sqlite_engine, n=2500, n_lens=30)
    config = ProbeConfig(ratio=10, val_ratio=20, epochs=3, max_iter=10, top_n=20)
    run = train_probe(sqlite_engine, ArrayFeatures(ids, vectors), config, out_dir=tmp_path, sweep=True, save=False)
    ratios = [r["ratio"] for r in run.sweep]
    assert ratios == [1, 10, 100, 1000]  # 4000 and up hold the same (capped) set as 1000 here
    assert run.sweep[-1]["n_neg"] == 2500 - 30 - 9 * 20  # every eligible non-lens not in validation
    assert [r["n_neg"] for r in run.sweep[:3]] == [21, 210, 2100]
    assert all(0 <= r["val_precision"] <= 1 for r in run.sweep)
    assert (tmp_path / "probe_ratios.png").exists() and run.model is None
    # A probe of separable data finds most validation lenses in the top N.
    assert run.metrics["val_tp"] >= 5


def test_errors_are_clear(sqlite_engine, tmp_path):
    ids, mask, vectors = survey(sqlite_engine, n=200, n_lens=10)
    with pytest.raises(Conflict, match="encoder version mismatch"):
        train_probe(sqlite_engine, ArrayFeatures(ids, vectors, "a"), ProbeConfig(encoder_version="b"),
                    out_dir=tmp_path)
    with pytest.raises(InvalidInput, match="need at least 2"):
        train_probe(sqlite_engine, ArrayFeatures(ids[9:], vectors[9:]), ProbeConfig(), out_dir=tmp_path)
    with pytest.raises(NotFound, match="unknown probe 'nope'"):
        get_model(sqlite_engine, "nope", ("probe",))


class _NoIdList(ArrayFeatures):
    """Vectors that refuse to list every id they hold: what a survey-scale store should never be asked for."""

    def ids(self):
        raise AssertionError("training listed every stored id")


def test_training_reads_only_the_drawn_vectors_by_id_when_all_are_embedded(sqlite_engine, tmp_path):
    ids, mask, vectors = survey(sqlite_engine, n=2000, n_lens=30)
    config = ProbeConfig(ratio=10, val_ratio=20, epochs=3, max_iter=10, top_n=20, protocol="paper")
    a = train_probe(sqlite_engine, _NoIdList(ids, vectors), config, out_dir=tmp_path / "a", save=False, plots=False)
    b = train_probe(sqlite_engine, ArrayFeatures(ids, vectors), config, out_dir=tmp_path / "b", save=False)
    assert a.sets.describe(10)["train_sha256"] == b.sets.describe(10)["train_sha256"]  # the same sets as before
    assert a.sets.describe(10)["val_sha256"] == b.sets.describe(10)["val_sha256"]
    assert not list((tmp_path / "a").glob("*.png")) and list((tmp_path / "b").glob("*.png"))


def test_training_draws_again_among_embedded_objects_when_some_have_no_vector(sqlite_engine, tmp_path):
    ids, mask, vectors = survey(sqlite_engine, n=2000, n_lens=30)
    keep = mask | (np.arange(len(ids)) % 2 == 0)  # half the non-lenses were never embedded
    config = ProbeConfig(ratio=10, val_ratio=20, epochs=3, max_iter=10, top_n=20, protocol="paper")
    run = train_probe(sqlite_engine, ArrayFeatures(ids[keep], vectors[keep]), config, out_dir=tmp_path, save=False)
    drawn = np.concatenate([run.sets.validation()[0], run.sets.train(10)[0]])
    assert np.isin(drawn, ids[keep]).all()
    assert run.sets.describe(10)["n_train_neg"] == 10 * run.sets.describe(10)["n_train_pos"]


def test_validated_probe_draws_again_among_embedded_objects_when_some_have_no_vector(sqlite_engine, tmp_path):
    """The validated protocol (the default) also draws from the catalogue first and again among the objects with
    vectors when some drawn object has none."""
    ids, mask, vectors = survey(sqlite_engine, n=2000, n_lens=30)
    keep = mask | (np.arange(len(ids)) % 2 == 0)
    run = train_probe(sqlite_engine, ArrayFeatures(ids[keep], vectors[keep]), ProbeConfig(ratio=10), out_dir=tmp_path,
                      save=False)
    assert np.isin(run.sets.ids, ids[keep]).all()
    full = train_probe(sqlite_engine, _NoIdList(ids, vectors), ProbeConfig(ratio=10), out_dir=tmp_path / "b",
                       save=False)  # all embedded: no list of every stored id
    assert np.isin(full.sets.ids, ids).all()
