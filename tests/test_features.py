import numpy as np
import pytest

from organizer.config import Settings
from organizer.errors import ModelUnavailable
from organizer.features import embed_frames, imagenet_classes, load_backend

from .conftest import LABELS, MNV1, MNV2, needs_models, scene_image


def test_imagenet_classes_ship_with_the_package():
    names = imagenet_classes()
    assert len(names) == 1000 and names[0].startswith("tench")


@needs_models
def test_tflite_embedding_reads_shapes_from_the_model():
    b = load_backend(Settings(features_model=str(MNV1)))
    assert b.input_size == 224 and b.labels is None
    feats, scores = embed_frames(b, [scene_image(i) for i in range(5)], batch_size=4)
    assert feats.shape == (5, 1024) and scores is None
    assert np.isfinite(feats).all() and feats.std() > 0


@needs_models
def test_tflite_classifier_with_labels_gives_class_scores():
    b = load_backend(Settings(features_model=str(MNV2), features_labels=str(LABELS)))
    assert len(b.labels) == 1001
    # The quantized softmax sums to about 1 (8-bit steps of 1/256).
    board = (np.indices((224, 224)).sum(0) // 28 % 2 * 255).astype(np.uint8)
    feats, scores = embed_frames(b, [np.dstack([board] * 3)], 1)
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
    b = load_backend(Settings(features_weights="random"))
    frames = [scene_image(i, (320, 240)) for i in range(3)]
    f1, s1 = embed_frames(b, frames, 32)
    f2, _ = embed_frames(b, frames, 2)
    assert f1.shape == (3, 2048) and s1 is None       # random heads must not name clusters
    np.testing.assert_allclose(f1, f2, rtol=1e-4, atol=1e-5)
    assert b.identity()["weights"] == "random:0"
