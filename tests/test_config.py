import pytest

from organizer.config import OPTIONS, Settings, default_toml, resolve
from organizer.errors import ConfigError
from pathlib import Path


def test_default_toml_in_repo_matches_the_table():
    shipped = (Path(__file__).parent.parent / "configs" / "default.toml").read_text()
    assert shipped == default_toml(), "regenerate configs/default.toml from organizer.config.default_toml()"


def test_every_option_is_documented_in_the_default_config():
    text = default_toml()
    for key, opt in OPTIONS.items():
        assert f"{key.rpartition('.')[2]} = " in text
        assert opt.help.split(".")[0] in text


def test_precedence_flag_over_file_over_default(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('clusters = 7\n[sampling]\nfps = 2.0\nmax_frames = 10\n')
    s = resolve({"sampling.fps": 0.5, "sampling.max_frames": None}, cfg)
    assert s.sampling_fps == 0.5          # flag wins
    assert s.sampling_max_frames == 10    # file beats default
    assert s.n_clusters == 7
    assert s.sampling_min_frames == Settings().sampling_min_frames   # default


@pytest.mark.parametrize("text, message", [
    ("clusters = 0\n", "at least 1"),
    ("clusters = 'many'\n", "whole number or 'auto'"),
    ("[sampling]\nfps = 500\n", "between 0.01 and 60"),
    ("[sampling]\nnope = 1\n", "unknown setting(s): sampling.nope"),
    ("naming = 'fancy'\n", "one of labels, index"),
    ("clusters = [\n", "not valid TOML"),
])
def test_bad_config_gives_a_sentence(tmp_path, text, message):
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as err:
        resolve({}, cfg)
    assert message in str(err.value)


def test_missing_config_file():
    with pytest.raises(ConfigError, match="does not exist"):
        resolve({}, "/nonexistent/organizer.toml")


def test_an_executor_that_does_not_exist_is_refused_with_a_sentence(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[engine]\nexecutor = "slurm"\n')
    with pytest.raises(ConfigError, match=r"engine.executor in .*c.toml must be one of local, ray"):
        resolve({}, path)


def test_paths_in_a_settings_file_expand_home_and_variables_and_errors_name_their_source(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    (home / "models" / "m.tflite").write_bytes(b"a model")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("MODELS", str(home / "models"))
    config = tmp_path / "c.toml"
    config.write_text('[features]\nmodel = "~/models/m.tflite"\nlabels = "$MODELS/m.tflite"\n')
    settings = resolve({}, config)
    assert settings.features_model == str(home / "models" / "m.tflite") == settings.features_labels
    config.write_text('[features]\nmodel = "~/models/missing.tflite"\n')
    with pytest.raises(ConfigError, match=rf"Setting features.model in {config}: the file .*missing.tflite does not "
                                          r"exist. \(It was given as '~/models/missing.tflite'.\)"):
        resolve({}, config)
    with pytest.raises(ConfigError, match=r"^--model: the file .*gone.tflite does not exist"):
        resolve({"features.model": str(tmp_path / "gone.tflite")}, None, {"features.model": "--model"})


def test_the_users_settings_file_is_read_and_shown(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from organizer.cli import main
    from organizer.cli.app import settings_from
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "organizer").mkdir()
    (tmp_path / "organizer" / "config.toml").write_text("seed = 7\n[placement]\nmax_distance = 0.5\n")
    assert settings_from(None).seed == 7 and settings_from(None, seed=3).seed == 3     # a flag still wins
    other = tmp_path / "other.toml"
    other.write_text("seed = 9\n")
    assert settings_from(str(other)).seed == 9 and settings_from(str(other)).max_distance is None
    shown = CliRunner().invoke(main, ["config"]).output
    assert shown.startswith(f"# read from {tmp_path / 'organizer' / 'config.toml'}") and "max_distance = 0.5" in shown


def test_a_relative_model_path_is_recorded_absolute_so_a_plan_works_from_any_folder(tmp_path, monkeypatch):
    """A plan records its settings; applied (or reviewed) from another folder, a relative model path named
    nothing, and the state refresh after apply silently failed."""
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "m.tflite").write_bytes(b"a model")
    monkeypatch.chdir(tmp_path)
    settings = resolve({"features.model": "models/m.tflite", "features.labels": "./models/m.tflite"})
    assert settings.features_model == str(tmp_path / "models" / "m.tflite") == settings.features_labels
    assert settings.as_dict()["features.model"] == str(tmp_path / "models" / "m.tflite")
