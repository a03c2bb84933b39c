"""Configuration: one place, five layers, each overriding the one before.

    defaults < [tool.justjit] in pyproject.toml < JUSTJIT_* environment
             < justjit.config / justjit.configure() in code < @jit arguments
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tomllib
import warnings
from pathlib import Path

import pytest

from isolation import REPO, clear_settings

import justjit
from justjit import JITWarning, cache, jit
from justjit import config as jconfig

@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    clear_settings(monkeypatch)
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    yield project
    jconfig.reset()


def write_pyproject(directory: Path, table: str) -> Path:
    path = directory / "pyproject.toml"
    path.write_text(textwrap.dedent('[project]\nname = "demo"\n\n' + table))
    return path


FULL_TABLE = """
    [tool.justjit]
    backend = "llvm"
    cache = false
    cache_dir = "build/jj-cache"
    hot = 3
    background = true
    threshold = 50
    opt_level = 1
    tiered = false
    max_signatures = 3
    dump_dir = "dumps"
    disable = false
    fallback = false
"""


def test_defaults_without_any_layer(isolated):
    resolved = jconfig.current()
    assert resolved.pyproject is None
    assert set(resolved.origins.values()) == {"default"}
    assert jconfig.resolve() == jconfig.JITConfig()
    assert jconfig.JITConfig() == jconfig.JITConfig(
        backend="cython", fallback=True, cache=True, disable=False, dump_dir=None, hot=0,
        background=False, opt_level=2, tiered=True,
    )
    assert (resolved.threshold, resolved.cache_dir) == (1000, None)


def test_pyproject_layer(isolated):
    path = write_pyproject(isolated, FULL_TABLE)
    resolved = jconfig.current()
    assert resolved.pyproject == path
    assert resolved.values["backend"] == "llvm" and resolved.values["cache"] is False
    assert resolved.values["hot"] == 3 and resolved.values["background"] is True
    assert resolved.values["threshold"] == 50 and resolved.values["opt_level"] == 1
    assert resolved.values["max_signatures"] == 3 and resolved.values["tiered"] is False
    assert resolved.values["fallback"] is False
    # Relative paths are relative to the pyproject.toml that names them.
    assert resolved.values["cache_dir"] == str(isolated / "build" / "jj-cache")
    assert resolved.values["dump_dir"] == str(isolated / "dumps")
    assert all(origin == f"pyproject.toml ({path})" for origin in resolved.origins.values())
    assert cache.cache_dir() == isolated / "build" / "jj-cache"


def test_pyproject_is_found_walking_up(isolated):
    write_pyproject(isolated, "[tool.justjit]\nhot = 7\n")
    deep = isolated / "src" / "pkg"
    deep.mkdir(parents=True)
    os.chdir(deep)
    assert jconfig.current().values["hot"] == 7
    # The nearest pyproject.toml is the project's, even without a [tool.justjit] table.
    write_pyproject(deep, "")
    assert jconfig.current().values["hot"] == 0
    assert jconfig.current().pyproject == deep / "pyproject.toml"


def test_precedence_each_layer_overrides_the_one_before(isolated, monkeypatch):
    write_pyproject(isolated, "[tool.justjit]\nhot = 1\nopt_level = 1\nbackground = true\nbackend = 'llvm'\n")

    def hot():
        r = jconfig.current()
        return r.values["hot"], r.origins["hot"]

    assert hot() == (1, f"pyproject.toml ({isolated / 'pyproject.toml'})")
    monkeypatch.setenv("JUSTJIT_HOT", "2")
    assert hot() == (2, "environment (JUSTJIT_HOT)")
    justjit.config.hot = 3
    assert hot() == (3, "code (justjit.config)")
    assert jconfig.resolve(hot=4).hot == 4  # decorator argument, highest

    cfg = jconfig.resolve(hot=4)
    assert (cfg.hot, cfg.opt_level, cfg.background, cfg.backend) == (4, 1, True, "llvm")
    justjit.configure(opt_level=0)
    monkeypatch.setenv("JUSTJIT_BACKEND", "cython")
    cfg = jconfig.resolve()
    assert (cfg.hot, cfg.opt_level, cfg.background, cfg.backend) == (3, 0, True, "cython")

    # Dropping a layer lets the one below show through again.
    del justjit.config.hot
    assert hot() == (2, "environment (JUSTJIT_HOT)")
    monkeypatch.delenv("JUSTJIT_HOT")
    assert hot() == (1, f"pyproject.toml ({isolated / 'pyproject.toml'})")


def test_decorator_uses_the_resolved_settings(isolated, monkeypatch):
    write_pyproject(isolated, "[tool.justjit]\nhot = 2\nbackground = true\nopt_level = 3\n")
    monkeypatch.setenv("JUSTJIT_BACKGROUND", "0")

    @jit
    def f(x):
        return x

    @jit(hot=0, opt_level=0)
    def g(x):
        return x

    assert (f.dispatcher.config.hot, f.dispatcher.config.background, f.dispatcher.config.opt_level) == (2, False, 3)
    assert (g.dispatcher.config.hot, g.dispatcher.config.opt_level) == (0, 0)


def test_tiered_goes_through_the_layers(isolated, monkeypatch):
    assert jconfig.resolve().tiered is True
    write_pyproject(isolated, "[tool.justjit]\ntiered = false\n")
    assert jconfig.resolve().tiered is False
    monkeypatch.setenv("JUSTJIT_TIERED", "1")
    assert jconfig.resolve().tiered is True
    justjit.config.tiered = False
    assert jconfig.resolve().tiered is False

    @jit(tiered=True)
    def f(x):
        return x

    assert f.dispatcher.config.tiered is True
    with pytest.raises(TypeError):
        jit(tiered=1)


def test_settings_are_snapshotted_at_decoration(isolated):
    @jit
    def f(x):
        return x

    justjit.config.disable = True

    @jit
    def g(x):
        return x

    assert f.dispatcher.status == "pending" and g.dispatcher.status == "disabled"
    assert g(3) == 3


def test_code_layer_object(isolated):
    assert justjit.config.backend == "cython"
    justjit.config.backend = "llvm"
    assert justjit.config.backend == "llvm" and "backend='llvm'" in repr(justjit.config)
    justjit.configure(backend=None)  # None drops what code set
    assert justjit.config.backend == "cython"
    with pytest.raises(ValueError, match="'gpu'"):
        justjit.config.backend = "gpu"
    with pytest.raises(ValueError, match="at most 3"):
        justjit.config.opt_level = 9
    with pytest.raises(TypeError, match="True or False"):
        justjit.config.cache = "no"
    with pytest.raises(AttributeError, match="no setting 'bakend'"):
        justjit.config.bakend = "cython"
    with pytest.raises(TypeError, match="unknown setting"):
        justjit.configure(speed=11)
    # configure() checks everything before applying anything.
    with pytest.raises(ValueError):
        justjit.configure(hot=5, opt_level=-1)
    assert justjit.config.hot == 0


def test_environment_values_are_checked(isolated, monkeypatch):
    monkeypatch.setenv("JUSTJIT_OPT_LEVEL", "fast")
    with pytest.raises(ValueError, match="JUSTJIT_OPT_LEVEL"):
        jconfig.current()
    monkeypatch.setenv("JUSTJIT_OPT_LEVEL", "7")
    with pytest.raises(ValueError, match="JUSTJIT_OPT_LEVEL"):
        jit(lambda: None)
    monkeypatch.setenv("JUSTJIT_OPT_LEVEL", "3")
    monkeypatch.setenv("JUSTJIT_CACHE", "off")
    monkeypatch.setenv("JUSTJIT_CACHE_DIR", str(isolated / "envcache"))
    r = jconfig.current()
    assert (r.opt_level, r.cache, r.cache_dir) == (3, False, str(isolated / "envcache"))
    assert cache.cache_dir() == isolated / "envcache"


def test_pyproject_errors_name_the_file(isolated):
    path = write_pyproject(isolated, "[tool.justjit]\nbackend = 'gpu'\n")
    with pytest.raises(ValueError, match="pyproject.toml") as info:
        jconfig.current()
    assert str(path) in str(info.value) and "'gpu'" in str(info.value)
    write_pyproject(isolated, "[tool.justjit]\nhot = 'many'\n")
    with pytest.raises(TypeError, match="hot"):
        jconfig.current()
    write_pyproject(isolated, "[tool.justjit\n")
    with pytest.raises(ValueError, match="cannot read"):
        jconfig.current()


def test_unknown_pyproject_key_warns_and_is_ignored(isolated):
    write_pyproject(isolated, "[tool.justjit]\nbakend = 'llvm'\nhot = 2\n")
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        assert jconfig.current().values["hot"] == 2
    assert any(issubclass(r.category, JITWarning) and "'bakend'" in str(r.message) for r in records)


def test_pyproject_is_reread_when_it_changes(isolated):
    path = write_pyproject(isolated, "[tool.justjit]\nhot = 1\n")
    assert jconfig.current().values["hot"] == 1
    path.write_text("[tool.justjit]\nhot = 22\n")
    os.utime(path, ns=(1, 10**18))  # a different mtime, whatever the clock's resolution
    assert jconfig.current().values["hot"] == 22


def test_cli_config_prints_values_and_origins(isolated):
    write_pyproject(isolated, "[tool.justjit]\nhot = 5\ncache_dir = 'jjc'\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUSTJIT_")}
    env.update(JUSTJIT_OPT_LEVEL="1", PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "justjit", "config"], cwd=isolated, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[0]: line for line in proc.stdout.splitlines() if line.strip()}
    assert "5" in rows["hot"] and "pyproject.toml" in rows["hot"]
    assert str(isolated / "jjc") in rows["cache_dir"]
    assert "1" in rows["opt_level"] and "environment (JUSTJIT_OPT_LEVEL)" in rows["opt_level"]
    assert "'cython'" in rows["backend"] and rows["backend"].rstrip().endswith("default")
    assert f"pyproject.toml: {isolated / 'pyproject.toml'}" in proc.stdout


def test_describe_shows_code_layer(isolated):
    justjit.config.threshold = 9
    text = jconfig.describe()
    [row] = [line for line in text.splitlines() if line.startswith("threshold")]
    assert "9" in row and "code (justjit.config)" in row


# Each of the eight settings, one value per layer (each differing from the layer
# below): (name, pyproject.toml literal, environment text, value set in code, decorator
# argument or None where @jit takes none). Paths are made absolute by the test.
LAYERED = [
    ("backend", "'llvm'", "cython", "llvm", "cython"),
    ("cache", "false", "on", False, True),
    ("cache_dir", "'pp-cache'", "env-cache", "code-cache", "deco-cache"),
    ("hot", "1", "2", 3, 4),
    ("background", "true", "0", True, False),
    ("opt_level", "1", "0", 3, 1),
    ("dump_dir", "'pp-dumps'", "env-dumps", "code-dumps", "deco-dumps"),
    ("disable", "true", "no", True, False),
]


@pytest.mark.parametrize("name, in_pyproject, in_env, in_code, in_decorator", LAYERED,
                         ids=[row[0] for row in LAYERED])
def test_every_setting_goes_through_the_five_layers(isolated, monkeypatch, name, in_pyproject, in_env,
                                                   in_code, in_decorator):
    setting = jconfig.SETTINGS[name]
    is_path = setting.kind == "path"

    def expect(value, origin):
        resolved = jconfig.current()
        assert (resolved.values[name], resolved.origins[name]) == (value, origin)
        [row] = [line for line in jconfig.describe().splitlines() if line.split()[:1] == [name]]
        assert origin in row, row  # `python -m justjit config` says so too
        if setting.per_function:  # what @jit resolves, without decorator arguments
            assert getattr(jconfig.resolve(), name) == value

    expect(setting.default, "default")
    path = write_pyproject(isolated, f"[tool.justjit]\n{name} = {in_pyproject}\n")
    from_pyproject = (str(isolated / in_pyproject.strip("'")) if is_path
                      else tomllib.loads(f"v = {in_pyproject}")["v"])
    expect(from_pyproject, f"pyproject.toml ({path})")
    env_text = str(isolated / in_env) if is_path else in_env
    monkeypatch.setenv(setting.env, env_text)
    from_env = env_text if is_path else jconfig._parse_text(setting, in_env, setting.env)
    assert from_env != from_pyproject
    expect(from_env, f"environment ({setting.env})")
    code_value = str(isolated / in_code) if is_path else in_code
    assert code_value != from_env
    setattr(justjit.config, name, code_value)
    expect(code_value, "code (justjit.config)")
    if in_decorator is not None:
        assert in_decorator != code_value
        assert getattr(jconfig.resolve(**{name: in_decorator}), name) == in_decorator
        assert getattr(jit(**{name: in_decorator})(lambda: None).dispatcher.config, name) == in_decorator
    # Each layer removed lets the one below it show through again.
    delattr(justjit.config, name)
    expect(from_env, f"environment ({setting.env})")
    monkeypatch.delenv(setting.env)
    expect(from_pyproject, f"pyproject.toml ({path})")


def _double(x):
    return 2 * x


def test_decorator_cache_dir_dump_dir_and_disable_act(isolated, tmp_path):
    """@jit(cache_dir=, dump_dir=, disable=) override the configuration for that function:
    its modules go to its own cache directory, its .pyx to its dump directory, and disable
    keeps it in the interpreter."""
    configured, own, dumps = tmp_path / "configured", tmp_path / "own", tmp_path / "dumps"
    justjit.config.cache_dir = str(configured)
    f = jit(_double, fallback=False, cache_dir=own, dump_dir=dumps)
    assert f(21) == _double(21)
    assert f.stats.status == "compiled"
    assert any(p.is_file() for p in own.rglob("*")), "nothing in the function's cache dir"
    assert not configured.exists() or not any(p.is_file() for p in configured.rglob("*"))
    assert list(dumps.glob("*.pyx")), "no .pyx in the function's dump dir"
    g = jit(_double, fallback=False, disable=True)
    assert g(5) == _double(5)
    assert g.stats.status == "disabled"
