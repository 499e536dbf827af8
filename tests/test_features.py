import json
import os
import subprocess
import sys

import numpy as np
import pytest

from organizer.config import Settings
from organizer.errors import ModelUnavailable
from organizer.features import FeatureSpec, embed_frames, imagenet_classes
from organizer.features import load_backend as load_spec

from .conftest import LABELS, MNV1, MNV2, needs_models, scene_image


def load_backend(settings: Settings):
    return load_spec(FeatureSpec.from_settings(settings))


def test_imagenet_classes_ship_with_the_package():
    names = imagenet_classes()
    assert len(names) == 1000 and names[0].startswith("tench")


@needs_models
def test_tflite_embedding_reads_shapes_from_the_model():
    b = load_backend(Settings(features_model=str(MNV1)))
    assert b.input_size == 224 and b.labels is None
    emb = embed_frames(b, [scene_image(i) for i in range(5)], batch_size=4)
    feats, scores = emb.features, emb.scores
    assert feats.shape == (5, 1024) and scores is None
    assert np.isfinite(feats).all() and feats.std() > 0


@needs_models
def test_tflite_classifier_with_labels_gives_class_scores():
    b = load_backend(Settings(features_model=str(MNV2), features_labels=str(LABELS)))
    assert len(b.labels) == 1001
    # The quantized softmax sums to about 1 (8-bit steps of 1/256).
    board = (np.indices((224, 224)).sum(0) // 28 % 2 * 255).astype(np.uint8)
    scores = embed_frames(b, [np.dstack([board] * 3)], 1).scores
    assert scores.shape == (1, 1001) and scores.sum() == pytest.approx(1.0, abs=0.1)


@needs_models
def test_labels_that_do_not_match_the_model_are_refused(tmp_path):
    bad = tmp_path / "labels.txt"
    bad.write_text("a\nb\n")
    with pytest.raises(ModelUnavailable, match="has 2 lines but the model gives 1001"):
        load_backend(Settings(features_model=str(MNV2), features_labels=str(bad)))


def test_missing_tflite_model():
    with pytest.raises(ModelUnavailable, match="does not exist"):
        load_backend(Settings(features_model="/nope/model.tflite"))


def test_offline_imagenet_gives_one_helpful_message(monkeypatch, tmp_path):
    from organizer.features import inception
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(inception, "_online", lambda *a, **k: False)
    with pytest.raises(ModelUnavailable) as err:
        inception.InceptionBackend("imagenet")
    text = str(err.value)
    for needle in ("inception_v3_weights_tf_dim_ordering_tf_kernels.h5", str(tmp_path), "--weights random",
                   "--model", "--weights PATH"):
        assert needle in text


def test_missing_weights_file():
    with pytest.raises(ModelUnavailable, match="does not exist"):
        load_backend(Settings(features_weights="/nope/w.h5"))


@pytest.mark.slow
def test_random_inception_is_2048d_and_deterministic():
    b = load_backend(Settings(features_weights="random", features_backend="keras"))
    assert b.name == "inceptionv3-keras"
    frames = [scene_image(i, (320, 240)) for i in range(3)]
    f1, s1 = embed_frames(b, frames, 32).features, embed_frames(b, frames, 32).scores
    f2 = embed_frames(b, frames, 2).features
    assert f1.shape == (3, 2048) and s1 is None       # random heads must not name clusters
    np.testing.assert_allclose(f1, f2, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------ converted InceptionV3 (issue 6)
def _cos(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.mark.slow
def test_inception_is_converted_once_checked_and_cached():
    from organizer.features.convert import ConvertedInceptionBackend, converted_path

    converted = load_backend(Settings(features_weights="random"))
    assert isinstance(converted, ConvertedInceptionBackend)
    path = converted_path(FeatureSpec.from_settings(Settings(features_weights="random")))
    assert path.is_file() and str(path).startswith(os.environ["ORGANIZER_CACHE_DIR"])
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["cosine_min"] >= 0.99
    keras = load_backend(Settings(features_weights="random", features_backend="keras"))
    frames = [scene_image(i, (320, 240)) for i in range(6)]
    fk, fc = embed_frames(keras, frames, 8).features, embed_frames(converted, frames, 8).features
    assert _cos(fk, fc).min() >= 0.99
    # A new process finds the cached file and never imports TensorFlow.
    code = ("import sys, numpy as np; from organizer.config import Settings; "
            "from organizer.features import FeatureSpec, load_backend; "
            "b = load_backend(FeatureSpec.from_settings(Settings(features_weights='random'))); "
            "f, _ = b.embed(np.zeros((2, 299, 299, 3), np.uint8)); "
            "print(type(b).__name__, f.shape, 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))
    assert out.stdout.split()[-1] == "False" and "ConvertedInceptionBackend" in out.stdout, out.stderr[-2000:]


@pytest.mark.slow
def test_a_conversion_that_changes_the_features_is_refused(tmp_path, monkeypatch, caplog):
    """Simulate a bad conversion: the converter returns a model with other weights. The fidelity check must
    refuse it, keep nothing in the cache and fall back to Keras."""
    from organizer import features
    from organizer.features import convert
    from organizer.features.convert import converted_path

    good = load_backend(Settings(features_weights="random"))      # seed 0, converted (cached by the test above)
    wrong = good.path.read_bytes()
    monkeypatch.setenv("ORGANIZER_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(convert, "convert_to_bytes", lambda model: wrong)
    features._CACHE.clear()
    backend = load_backend(Settings(features_weights="random", seed=1))
    assert backend.name == "inceptionv3-keras"          # Keras
    assert not converted_path(FeatureSpec.from_settings(Settings(features_weights="random", seed=1))).exists()
    assert "differs from Keras" in caplog.text


def test_near_identical_frames_reuse_features():
    from organizer.features import near_duplicate_sources

    a, b = scene_image(1, (160, 120)), scene_image(2, (160, 120))
    a2 = np.clip(a.astype(int) + 1, 0, 255).astype(np.uint8)        # the same picture, one level brighter
    frames = [a, a2, b, b, a]
    assert near_duplicate_sources(frames, 2.0) == [0, 0, 2, 2, 0]     # the picture that comes back too
    assert near_duplicate_sources(frames, 0.0) == [0, 1, 2, 3, 4]

    class Counting:
        input_size, labels, name = 32, None, "counting"
        seen = 0

        def embed(self, batch):
            Counting.seen += len(batch)
            return batch.reshape(len(batch), -1)[:, :8].astype(np.float32), None

    emb = embed_frames(Counting(), frames, 2, reuse_below=2.0)
    assert Counting.seen == 2 and emb.reused == 3 and emb.features.shape[0] == 5
    np.testing.assert_array_equal(emb.features[1], emb.features[0])
    np.testing.assert_array_equal(emb.features[3], emb.features[2])
    np.testing.assert_array_equal(emb.features[4], emb.features[0])
