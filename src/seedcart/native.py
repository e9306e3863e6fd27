"""The click hot path compiled with mypyc, used only while it matches its sources.

Why: a click on the redirect runs about forty lines of Python (parse callbacks, the record, the
answer), and on a small machine that interpreted Python, not the kernel, bounds how many clicks one
process answers. mypyc compiles the same type-checked modules to C extensions: no second
implementation to keep in step, and the pure-Python modules stay the reference and the fallback.
In-process, a click took 24.7 us interpreted and 15.0 us compiled on the benchmark machine (see
``benchmarks/redirect.py`` for the served rate).

Build: ``seedcart native`` (``make install`` runs it; needs mypy, from the ``dev`` extra,
and a C compiler) compiles :data:`HOT_MODULES` into ``_native/`` beside this file, with a
``manifest.json`` naming, for each module, the extension file and the SHA-256 of the source it was
compiled from, and the interpreter's extension suffix (its ABI).

Load: importing ``seedcart`` calls :func:`install`. When the manifest's suffix is this interpreter's
and every hot module's source still has its recorded hash, a finder at the front of
``sys.meta_path`` serves those modules (and mypyc's shared library) from the compiled files. Else
nothing is installed and the sources run: a module edited since the build is never shadowed by its
stale extension. ``SEEDCART_PURE_PYTHON=1`` keeps the sources too. :func:`status` tells which ran.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import sysconfig
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType
from typing import Any, Final

#: The modules of the click hot path, compiled together (direct calls between them).
HOT_MODULES: Final = ("seedcart.collect.clicks", "seedcart.collect.redirect", "seedcart.serve.clickedge")
GROUP: Final = "seedcart_hot"  # mypyc's shared library is the module ``seedcart_hot__mypyc``
PURE_ENV: Final = "SEEDCART_PURE_PYTHON"
PACKAGE_DIR: Final = Path(__file__).resolve().parent
NATIVE_DIR: Final = PACKAGE_DIR / "_native"
MANIFEST: Final = "manifest.json"


def source_of(module: str, package_dir: Path = PACKAGE_DIR) -> Path:
    """The source file of a ``seedcart.*`` module."""
    return package_dir.joinpath(*module.split(".")[1:]).with_suffix(".py")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Status:
    """What :func:`install` found: the compiled modules in use, or why none are."""

    compiled: list[str] = field(default_factory=list)
    reason: str = "not checked"

    def public(self) -> dict[str, Any]:
        return {"compiled": list(self.compiled), "reason": self.reason}


_status = Status()


def status() -> Status:
    """Whether the hot path runs compiled (``compiled`` lists the modules) and why (``reason``)."""
    return _status


class _CompiledFinder(importlib.abc.MetaPathFinder):
    """Serves the listed modules from their extension files."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        file = self.files.get(fullname)
        if file is None:
            return None
        loader = importlib.machinery.ExtensionFileLoader(fullname, str(file))
        return importlib.util.spec_from_file_location(fullname, file, loader=loader)


def check(native_dir: Path = NATIVE_DIR, package_dir: Path = PACKAGE_DIR) -> tuple[dict[str, Path], str]:
    """The compiled files to use (module -> extension file) and why: empty when there is no build,
    it is for another interpreter, or a hot module's source changed since it was built."""
    manifest_path = native_dir / MANIFEST
    if not manifest_path.is_file():
        return {}, "no compiled build (`seedcart native` builds one)"
    try:
        manifest = json.loads(manifest_path.read_text())
        suffix, modules, shared = manifest["ext_suffix"], manifest["modules"], manifest["shared"]
    except (ValueError, KeyError, TypeError) as exc:
        return {}, f"unreadable {manifest_path}: {exc!r}"
    if suffix != sysconfig.get_config_var("EXT_SUFFIX"):
        return {}, f"compiled for {suffix}, this interpreter loads {sysconfig.get_config_var('EXT_SUFFIX')}"
    if sorted(modules) != sorted(HOT_MODULES):
        return {}, f"the build holds {sorted(modules)}, not the hot modules {sorted(HOT_MODULES)}"
    files: dict[str, Path] = {shared["module"]: native_dir / shared["file"]}
    for module, entry in modules.items():
        if _sha256(source_of(module, package_dir)) != entry["source_sha256"]:
            return {}, f"{module} changed since it was compiled: running its source (rebuild: make install)"
        files[module] = native_dir / entry["file"]
    missing = [str(path) for path in files.values() if not path.is_file()]
    if missing:
        return {}, f"compiled files missing: {missing}"
    return files, "compiled build matches the sources"


def install() -> Status:
    """Serve the hot modules compiled when the build matches (see the module docstring); idempotent.
    Must run before any hot module is imported (``seedcart/__init__`` calls it first)."""
    global _status
    if any(isinstance(finder, _CompiledFinder) for finder in sys.meta_path):
        return _status
    if os.environ.get(PURE_ENV, "") not in ("", "0"):
        _status = Status([], f"{PURE_ENV} is set")
        return _status
    files, reason = check()
    if files:
        sys.meta_path.insert(0, _CompiledFinder(files))
    _status = Status([m for m in HOT_MODULES if m in files], reason)
    return _status


def build(native_dir: Path = NATIVE_DIR, package_dir: Path = PACKAGE_DIR, *, verbose: bool = False) -> Path:
    """Compile :data:`HOT_MODULES` with mypyc into ``native_dir`` (replaced whole); its manifest."""
    import shutil
    import tempfile

    try:
        from mypyc.build import mypycify
        distribution: Any = importlib.import_module("setuptools").Distribution  # setuptools has no stubs here
    except ImportError as exc:
        raise SystemExit(f"building the compiled hot path needs mypy (mypyc) and setuptools: {exc}") from exc
    sources = {module: source_of(module, package_dir) for module in HOT_MODULES}
    hashes = {module: _sha256(path) for module, path in sources.items()}
    with tempfile.TemporaryDirectory(prefix="seedcart-native-") as tmp:
        work = Path(tmp)
        cwd = Path.cwd()
        cache = os.environ.get("MYPY_CACHE_DIR")
        os.environ["MYPY_CACHE_DIR"] = str(work / "mypy-cache")  # not a .mypy_cache left in the source root
        os.chdir(package_dir.parent)  # mypy names the modules from the paths under the source root
        try:
            extensions = mypycify([str(path.relative_to(package_dir.parent)) for path in sources.values()],
                                  opt_level="3", target_dir=str(work / "c"), group_name=GROUP, verbose=verbose)
            dist = distribution({"ext_modules": extensions, "script_name": "seedcart-native"})
            command: Any = dist.get_command_obj("build_ext")
            command.build_lib = str(work / "lib")
            command.build_temp = str(work / "tmp")
            command.inplace = False
            dist.run_command("build_ext")
        finally:
            os.chdir(cwd)
            if cache is None:
                os.environ.pop("MYPY_CACHE_DIR", None)
            else:
                os.environ["MYPY_CACHE_DIR"] = cache
        suffix = sysconfig.get_config_var("EXT_SUFFIX")
        lib = work / "lib"
        staged = work / "native"
        staged.mkdir()
        manifest: dict[str, Any] = {"ext_suffix": suffix, "modules": {}, "python": sys.version.split()[0]}
        shared = f"{GROUP}__mypyc{suffix}"
        shutil.copy2(lib / shared, staged / shared)
        manifest["shared"] = {"module": f"{GROUP}__mypyc", "file": shared}
        for module in HOT_MODULES:
            relative = Path(*module.split(".")).with_suffix("").as_posix() + suffix
            target = staged / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(lib / relative, target)
            manifest["modules"][module] = {"file": relative, "source_sha256": hashes[module]}
        if {m: _sha256(p) for m, p in sources.items()} != hashes:
            raise SystemExit("a hot module changed while it was being compiled: build again")
        (staged / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        shutil.rmtree(native_dir, ignore_errors=True)  # meanwhile an import finds no build and runs the sources
        shutil.copytree(staged, native_dir)
    return native_dir / MANIFEST
