"""``python -m justjit cache list|info|clear``, the manifest's metadata, and caches
shared between processes: concurrent builders, and entries corrupted by another
process while this one runs.

The builds here run the real Cython and C compiler through ``build_module`` on
hand-written .pyx text (the compiler pipeline is not needed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from isolation import REPO, child_env, clear_settings

from justjit import cache
from justjit.__main__ import main
from justjit.backends import cython_build
from justjit.backends.cython_build import build_module, module_key

@pytest.fixture(autouse=True)
def root(monkeypatch, tmp_path):
    path = tmp_path / "cache"
    clear_settings(monkeypatch, path)
    monkeypatch.chdir(tmp_path)
    return path


def publish(store, module_name, metadata=None, payload=b"\x7fELF stand-in", created=None):
    build_dir = store.new_build_dir(module_name)
    (build_dir / f"{module_name}.so").write_bytes(payload)
    (build_dir / f"{module_name}.pyx").write_text("def entry(state):\n    pass\n")
    provenance = {"created": time.time() if created is None else created}
    return store.publish(build_dir, module_name, "k" * 64, f"{module_name}.so", f"{module_name}.pyx",
                         provenance, metadata=metadata)


def source(tag):
    return f"# {tag}\ndef entry(state, x):\n    return x + 1\n"


# --------------------------------------------------------------------------- metadata


def test_manifest_records_optional_metadata(root):
    store = cache.open_cache()
    entry = publish(store, "_jj_f_0123456789abcdef",
                    metadata={"function": "pkg.mod.f", "signature": "generic(x)", "backend": "cython"})
    assert entry.manifest["metadata"]["function"] == "pkg.mod.f"
    publish(store, "_jj_g_0123456789abcdef")  # no metadata: the old manifest layout
    infos = {i.module_name: i for i in store.list_entries()}
    assert infos["_jj_f_0123456789abcdef"].metadata["signature"] == "generic(x)"
    assert infos["_jj_g_0123456789abcdef"].metadata is None
    assert all(i.valid for i in infos.values())


def test_build_module_records_metadata(root):
    meta = {"function": "tests.f", "signature": "generic(x)", "backend": "cython"}
    module = build_module(source("metadata"), name_hint="f", metadata=meta)
    assert module.entry(None, 1) == 2
    manifest = json.loads((root / "entries" / module.__name__ / "manifest.json").read_text())
    assert manifest["metadata"] == meta


# ------------------------------------------------------------------------------- CLI


def test_cache_list_info_clear(root, capsys):
    store = cache.open_cache()
    publish(store, "_jj_area_0123456789abcdef", created=time.time() - 7200,
            metadata={"function": "shapes.Square.area", "signature": "generic(self, w)", "backend": "cython"})
    publish(store, "_jj_kernel_0123456789abcdef", payload=b"x" * 5000)
    bad = publish(store, "_jj_bad_0123456789abcdef")
    (bad.directory / bad.so_path.name).write_bytes(b"tampered")
    (store.failed / "_jj_old_0123456789abcdef").mkdir(parents=True)
    store.remember_refusal("abc", {"function": "f", "reason": "no"})

    assert main(["cache", "list"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    area = lines["shapes.Square.area"]
    assert "generic(self," in area and "cython" in area and "B" in area and "2h" in area and " ok" in area
    assert "kernel (name hint)" in out  # no metadata: the module's name hint
    assert " KB " in lines["kernel"]  # .so + .pyx + manifest
    assert "INVALID: extension module has the wrong size" in out
    assert "3 entries in" in out and str(root) in out

    assert main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert f"cache directory: {root}" in out
    assert "entries: 3 (2 valid, 1 invalid)" in out
    assert "failed builds kept for inspection: 1" in out
    assert "not compilable (enable/run): 1" in out

    assert main(["cache", "clear"]) == 0
    assert "removed 3 entries" in capsys.readouterr().out
    assert store.list_entries() == [] and store.refused_keys() == set()
    assert not store.failed.exists()
    assert main(["cache", "list"]) == 0
    assert "no entries" in capsys.readouterr().out


def test_cache_commands_on_a_missing_directory(root, capsys):
    assert main(["cache", "info"]) == 0
    assert "does not exist yet" in capsys.readouterr().out
    assert main(["cache", "clear"]) == 0
    assert "removed 0 entries" in capsys.readouterr().out


def test_cache_command_as_a_program(root):
    publish(cache.open_cache(), "_jj_h_0123456789abcdef", metadata={"function": "m.h", "backend": "cython"})
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "justjit", "cache", "list"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "m.h" in proc.stdout and "1 entry in" in proc.stdout


# ------------------------------------------------------------- several processes


CONCURRENT_BUILDERS = """
    import json, os, sys, time, warnings
    warnings.simplefilter("error")            # any warning fails a worker
    from justjit.backends.cython_build import build_module
    # Pay Cython's import and warm-up once, in the parent, then fork the 8 builders:
    # each still runs Cython and the C compiler and publishes, all at the same time.
    build_module("# warm-up\\ndef entry(state):\\n    pass\\n", name_hint="warm", use_cache=False)
    go_r, go_w = os.pipe()
    pids = []
    for i in range(8):
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                os.close(go_w)
                os.read(go_r, 1)                  # wait until every worker exists
                from justjit.backends.cython_build import stats
                runs = stats.cc_runs
                m = build_module({source!r}, name_hint="shared", opt_level=0,
                                 metadata={{"function": "shared"}})
                line = json.dumps({{"result": m.entry(None, 41), "built": stats.cc_runs - runs}})
                os.write(1, (line + "\\n").encode())    # one write: lines never interleave
                status = 0
            finally:
                os._exit(status)
        pids.append(pid)
    os.close(go_r)
    os.write(go_w, b"g" * 8)
    sys.exit(sum(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0 for pid in pids))
"""


def test_eight_processes_building_one_key_leave_one_valid_entry(root):
    code = textwrap.dedent(CONCURRENT_BUILDERS.format(source=source("eight processes")))
    proc = subprocess.run([sys.executable, "-c", code], env=child_env(root),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    outputs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [o["result"] for o in outputs] == [42] * 8
    assert sum(o["built"] for o in outputs) >= 2  # they really raced (more than one built)
    [info] = cache.list_entries()
    assert info.valid and info.metadata == {"function": "shared"}
    assert list((root / "tmp").iterdir()) == []  # losers cleaned up after themselves
    assert not (root / "failed").exists()


CORRUPTER = """
    import json, os, sys, shutil, tempfile
    root, module, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    entry = os.path.join(root, "entries", module)
    tmp = tempfile.mkdtemp(dir=os.path.join(root, "tmp"))
    so = module + {suffix!r}
    if mode == "checksum":   # right size, wrong bytes
        data = open(os.path.join(entry, so), "rb").read() if os.path.isdir(entry) else b"x" * 64
        open(os.path.join(tmp, so), "wb").write(bytes(b ^ 0x5A for b in data))
        manifest = json.load(open(os.path.join(entry, "manifest.json"))) if os.path.isdir(entry) else {{}}
    elif mode == "not-a-library":   # a consistent manifest over garbage: checksum passes, dlopen fails
        from justjit import cache
        open(os.path.join(tmp, so), "wb").write(b"this is not an ELF file")
        size, digest = cache.file_checksum(os.path.join(tmp, so))
        manifest = {{"format": cache.CACHE_FORMAT, "module": module, "key": sys.argv[4], "so": so,
                    "pyx": module + ".pyx", "so_size": size, "so_blake2b": digest}}
    else:   # truncated manifest
        open(os.path.join(tmp, so), "wb").write(b"x")
        manifest = None
    open(os.path.join(tmp, module + ".pyx"), "w").write("# junk\\n")
    with open(os.path.join(tmp, "manifest.json"), "w") as f:
        f.write(json.dumps(manifest)[:-3] if manifest is None or mode == "manifest" else json.dumps(manifest))
    if os.path.isdir(entry):
        shutil.rmtree(entry)
    os.rename(tmp, entry)
"""


@pytest.mark.parametrize("mode", ["checksum", "not-a-library", "manifest"])
def test_entry_corrupted_by_another_process_is_survived(root, mode):
    from importlib.machinery import EXTENSION_SUFFIXES

    # This process is running and has already used the cache ...
    build_module(source(f"warm-up {mode}"), name_hint="warm")
    # ... when another process writes a broken entry under the key it is about to load.
    text = source(f"corrupted {mode}")
    module_name, key = module_key(text, name_hint="victim")
    code = textwrap.dedent(CORRUPTER.format(suffix=EXTENSION_SUFFIXES[0]))
    proc = subprocess.run([sys.executable, "-c", code, str(root), module_name, mode, key],
                          env=child_env(root), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert (root / "entries" / module_name).is_dir()

    corrupt = cython_build.stats.corrupt_entries
    module = build_module(text, name_hint="victim")
    assert module.entry(None, 1) == 2
    assert cython_build.stats.corrupt_entries == corrupt + 1
    infos = {i.module_name: i for i in cache.list_entries()}
    assert infos[module_name].valid


def test_entry_corrupted_after_this_process_loaded_it(root):
    from importlib.machinery import EXTENSION_SUFFIXES

    text = source("loaded then corrupted")
    module = build_module(text, name_hint="loaded")
    code = textwrap.dedent(CORRUPTER.format(suffix=EXTENSION_SUFFIXES[0]))
    proc = subprocess.run([sys.executable, "-c", code, str(root), module.__name__, "checksum"],
                          env=child_env(root), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    # This process keeps the module it loaded; a fresh process rebuilds a good entry.
    assert build_module(text, name_hint="loaded") is module and module.entry(None, 2) == 3
    check = textwrap.dedent(f"""
        import json
        from justjit.backends.cython_build import build_module, stats
        m = build_module({text!r}, name_hint="loaded")
        print(json.dumps([m.entry(None, 5), stats.corrupt_entries]))
    """)
    proc = subprocess.run([sys.executable, "-c", check], env=child_env(root),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [6, 1]
