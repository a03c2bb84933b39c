"""The on-disk cache on its own: location, trust, keys, publishing, verification.

No compiler runs here; entries are built by hand from a few bytes standing in
for an extension module.  End-to-end behaviour is in test_cython_build.py.
"""

import json
import os
import stat
import sys

import pytest

from justjit import cache
from justjit.errors import JITWarning


@pytest.fixture
def root(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setenv("JUSTJIT_CACHE_DIR", str(path))
    return path


def fake_build(store, module_name, payload=b"\x7fELF not really a module"):
    """A build directory as cython_build leaves it: the .so and the .pyx."""
    build_dir = store.new_build_dir(module_name)
    (build_dir / f"{module_name}.so").write_bytes(payload)
    (build_dir / f"{module_name}.pyx").write_text("def f(x):\n    return x\n")
    return build_dir


def publish(store, module_name, key="k" * 64, payload=b"\x7fELF not really a module"):
    build_dir = fake_build(store, module_name, payload)
    return store.publish(build_dir, module_name, key, f"{module_name}.so",
                         f"{module_name}.pyx", {"created": 0.0})


# -- where the cache lives ---------------------------------------------------

def test_location_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("JUSTJIT_CACHE_DIR", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "explicit"

    monkeypatch.delenv("JUSTJIT_CACHE_DIR")
    assert cache.cache_dir() == tmp_path / "xdg" / "justjit"

    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")  # the XDG spec says: ignore it
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_dir() == tmp_path / "home" / ".cache" / "justjit"


def test_open_cache_creates_a_private_directory(root):
    store = cache.open_cache()
    assert store is not None and store.root == root
    assert stat.S_IMODE(os.stat(root).st_mode) & 0o077 == 0
    assert store.entries.is_dir() and store.tmp.is_dir()


@pytest.mark.parametrize("mode", [0o775, 0o757, 0o777])
def test_directory_writable_by_others_is_refused(root, mode):
    root.mkdir(mode=0o700)
    os.chmod(root, mode)
    with pytest.warns(JITWarning, match="writable by group or others"):
        assert cache.open_cache() is None
    assert not (root / cache.ENTRIES).exists()


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0,
                    reason="needs root to give a directory away")
def test_directory_owned_by_someone_else_is_refused(root):
    root.mkdir(mode=0o700)
    os.chown(root, 65534, 65534)
    with pytest.warns(JITWarning, match="owned by uid 65534"):
        assert cache.open_cache() is None


def test_private_dir_is_private_and_stable():
    path = cache.private_dir()
    assert path == cache.private_dir()
    assert stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0


# -- keys ----------------------------------------------------------------------

def test_key_fields_cannot_run_into_each_other():
    assert cache.make_key({"a": "bc"}) != cache.make_key({"a": "b", "c": ""})
    assert cache.make_key({"a": "b:c"}) != cache.make_key({"a": "b", ":c": ""})
    assert cache.make_key({"x": "1", "y": "2"}) == cache.make_key({"y": "2", "x": "1"})


def test_runtime_fingerprint_covers_every_file(tmp_path):
    runtime = tmp_path / "runtime"
    assert cache.runtime_fingerprint(runtime) == cache.runtime_fingerprint(runtime)  # absent: stable
    runtime.mkdir()
    empty = cache.runtime_fingerprint(runtime)
    (runtime / "jj_runtime.h").write_text("#define A 1\n")
    one = cache.runtime_fingerprint(runtime)
    (runtime / "jj_runtime.h").write_text("#define A 2\n")
    two = cache.runtime_fingerprint(runtime)
    (runtime / "jj_runtime.pxd").write_text("")
    three = cache.runtime_fingerprint(runtime)
    assert len({empty, one, two, three}) == 4


def test_environment_fingerprint_names_python_and_cython():
    import Cython

    env = cache.environment_fingerprint()
    assert env["cython_version"] == Cython.__version__
    assert env["python_version"] == sys.version
    assert env["python_implementation"] == sys.implementation.name
    assert env["cache_format"] == str(cache.CACHE_FORMAT)


# -- publishing and verification ---------------------------------------------

def test_publish_then_lookup(root):
    store = cache.open_cache()
    entry = publish(store, "_jj_a_1")
    assert entry.directory == store.entries / "_jj_a_1"
    found, problem = store.lookup("_jj_a_1", "k" * 64)
    assert problem is None and found.so_path == entry.so_path
    manifest = json.loads((entry.directory / cache.MANIFEST).read_text())
    assert manifest["so_size"] == entry.so_path.stat().st_size
    assert list(store.tmp.iterdir()) == []          # the build dir became the entry


def test_absent_entry(root):
    assert cache.open_cache().lookup("_jj_nothing_0", "k") == (None, None)


@pytest.mark.parametrize("damage", ["truncate", "flip_a_byte", "delete_so", "garble_manifest"])
def test_damaged_entry_is_detected_and_removed(root, damage):
    store = cache.open_cache()
    entry = publish(store, "_jj_b_1")
    if damage == "truncate":
        with open(entry.so_path, "r+b") as f:
            f.truncate(3)
    elif damage == "flip_a_byte":
        data = bytearray(entry.so_path.read_bytes())
        data[-1] ^= 0xFF
        entry.so_path.write_bytes(bytes(data))
    elif damage == "delete_so":
        entry.so_path.unlink()
    else:
        (entry.directory / cache.MANIFEST).write_text("{not json")
    found, problem = store.lookup("_jj_b_1", "k" * 64)
    assert found is None and problem
    assert not entry.directory.exists()


def test_entry_with_another_key_is_not_used(root):
    store = cache.open_cache()
    publish(store, "_jj_c_1", key="a" * 64)
    found, problem = store.lookup("_jj_c_1", "b" * 64)
    assert found is None and "key" in problem


def test_second_publisher_gets_the_first_entry(root):
    store = cache.open_cache()
    first = fake_build(store, "_jj_d_1", b"first")
    second = fake_build(store, "_jj_d_1", b"second")
    a = store.publish(first, "_jj_d_1", "k" * 64, "_jj_d_1.so", "_jj_d_1.pyx", {})
    b = store.publish(second, "_jj_d_1", "k" * 64, "_jj_d_1.so", "_jj_d_1.pyx", {})
    assert a.directory == b.directory
    assert b.so_path.read_bytes() == b"first"
    assert not second.exists()
    assert [p.name for p in store.entries.iterdir()] == ["_jj_d_1"]


def test_publisher_replaces_a_corrupt_entry(root):
    store = cache.open_cache()
    old = publish(store, "_jj_e_1", payload=b"old")
    old.so_path.write_bytes(b"xx")                   # corrupt, and the wrong size
    new = publish(store, "_jj_e_1", payload=b"new")
    assert new.so_path.read_bytes() == b"new"
    assert store.lookup("_jj_e_1", "k" * 64)[0] is not None


def test_list_entries_and_clear(root):
    store = cache.open_cache()
    publish(store, "_jj_f_1")
    broken = publish(store, "_jj_f_2")
    broken.so_path.write_bytes(b"")
    infos = {info.module_name: info for info in cache.list_entries()}
    assert infos["_jj_f_1"].valid and infos["_jj_f_1"].problem is None
    assert not infos["_jj_f_2"].valid and "size" in infos["_jj_f_2"].problem
    assert cache.clear() == 2
    assert cache.list_entries() == []


def test_memo_roundtrip(root):
    store = cache.open_cache()
    assert store.read_memo("cc-x") is None
    store.write_memo("cc-x", "gcc 12")
    assert store.read_memo("cc-x") == "gcc 12"
