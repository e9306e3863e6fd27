"""The compiled click hot path: used only while its build matches the sources, else the sources run."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from seedcart import native

SUFFIX = sysconfig.get_config_var("EXT_SUFFIX")


def _fake_build(tmp_path: Path) -> tuple[Path, Path]:
    """A package dir holding copies of the hot sources, and a native dir whose manifest records them."""
    package_dir = tmp_path / "seedcart"
    native_dir = tmp_path / "native"
    modules = {}
    for module in native.HOT_MODULES:
        source = native.source_of(module, package_dir)
        source.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(native.source_of(module), source)
        relative = module.replace(".", "/") + SUFFIX
        (native_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        (native_dir / relative).write_bytes(b"compiled")
        modules[module] = {"file": relative, "source_sha256": hashlib.sha256(source.read_bytes()).hexdigest()}
    shared = f"{native.GROUP}__mypyc{SUFFIX}"
    (native_dir / shared).write_bytes(b"compiled")
    manifest = {"ext_suffix": SUFFIX, "modules": modules,
                "shared": {"module": f"{native.GROUP}__mypyc", "file": shared}}
    (native_dir / native.MANIFEST).write_text(json.dumps(manifest))
    return package_dir, native_dir


def test_a_matching_build_is_used_and_an_edited_module_falls_back_to_its_source(tmp_path: Path) -> None:
    package_dir, native_dir = _fake_build(tmp_path)
    files, reason = native.check(native_dir, package_dir)
    assert set(files) == {*native.HOT_MODULES, f"{native.GROUP}__mypyc"}, reason
    assert files["seedcart.serve.clickedge"] == native_dir / f"seedcart/serve/clickedge{SUFFIX}"

    edited = native.source_of("seedcart.collect.redirect", package_dir)
    edited.write_text(edited.read_text() + "\n# edited after the build\n")
    files, reason = native.check(native_dir, package_dir)
    assert files == {} and "seedcart.collect.redirect changed since it was compiled" in reason


def test_a_build_for_another_interpreter_or_with_files_missing_is_not_used(tmp_path: Path) -> None:
    package_dir, native_dir = _fake_build(tmp_path)
    manifest_path = native_dir / native.MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "ext_suffix": ".cpython-399-x86_64-linux-gnu.so"}))
    files, reason = native.check(native_dir, package_dir)
    assert files == {} and "cpython-399" in reason

    manifest_path.write_text(json.dumps(manifest))
    (native_dir / manifest["shared"]["file"]).unlink()
    files, reason = native.check(native_dir, package_dir)
    assert files == {} and "missing" in reason

    manifest_path.write_text("{not json")
    assert native.check(native_dir, package_dir)[0] == {}
    assert native.check(tmp_path / "nowhere", package_dir) == ({}, "no compiled build (`seedcart native` builds one)")


def test_the_hot_modules_load_from_the_build_exactly_when_it_matches() -> None:
    """What this process runs: the compiled modules when the build in the tree matches (``make test``
    builds it first), their sources otherwise; never a stale build."""
    import seedcart.collect.clicks
    import seedcart.collect.redirect
    import seedcart.serve.clickedge

    loaded = {m.__name__: m.__file__ or "" for m in (seedcart.collect.clicks, seedcart.collect.redirect,
                                                     seedcart.serve.clickedge)}
    files, reason = native.check()
    status = native.status()
    if os.environ.get(native.PURE_ENV, "") not in ("", "0"):
        assert status.compiled == [] and all(path.endswith(".py") for path in loaded.values())
    elif files:
        assert status.compiled == list(native.HOT_MODULES), status
        assert all(path.endswith(SUFFIX) for path in loaded.values()), loaded
    else:
        assert status.compiled == [] and all(path.endswith(".py") for path in loaded.values()), reason


def test_pure_python_can_be_asked_for() -> None:
    code = ("import seedcart, seedcart.serve.clickedge as e; "
            "print(seedcart.native.status().reason); print(e.__file__)")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, native.PURE_ENV: "1"}, check=True,
                         capture_output=True, text=True).stdout.splitlines()
    assert out == [f"{native.PURE_ENV} is set", str(native.source_of("seedcart.serve.clickedge"))]


@pytest.mark.skipif(not native.check()[0], reason="no matching compiled build in this tree (make native)")
def test_the_compiled_edge_answers_like_the_source() -> None:
    """The compiled and interpreted edges render the same bytes for the same answer."""
    code = ("import seedcart.serve.clickedge as e; from seedcart.collect.redirect import not_found_page as n; "
            "a = n(); import sys; sys.stdout.buffer.write(e.render(a.status, a.headers, a.body.encode(), "
            "date=b'date: x\\r\\n', close=True))")
    runs = [subprocess.run([sys.executable, "-c", code], env={**os.environ, native.PURE_ENV: pure}, check=True,
                           capture_output=True).stdout for pure in ("0", "1")]
    assert runs[0] == runs[1] and runs[0].startswith(b"HTTP/1.1 404 Not Found\r\n")
