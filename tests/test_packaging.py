"""Installs into fresh venvs: the extension compiles with ``pip install .``, ``-e`` and a wheel, and a
machine without a C compiler still gets a working package on the pure-Python path.

Each venv is new and holds only what the install puts there; the dependencies
(numpy, fugashi, ...) and the build tools come from this environment through a
path entry, so the tests need no network and measure what the package carries.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECK = (
    "import searchsafe, warnings\n"
    "clf = searchsafe.load()\n"
    "print(clf.scoring_path, searchsafe.__file__)\n"
    "print(clf.predict('자살 방법'), clf.predict('猫 飼い方'))\n"
)


def _fresh_venv(where: Path) -> Path:
    venv.EnvBuilder(with_pip=False).create(where)
    py = where / "bin" / "python"
    purelib = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    # Appended after the venv's own site-packages: the package under test is found first.
    Path(purelib, "_deps_from_test_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return py


def _source_copy(where: Path) -> Path:
    # The working tree as git sees it (tracked and new files), without build products.
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            dst = where / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    return where


def _clean_env(env: dict[str, str] | None = None) -> dict[str, str]:
    # A PYTHONPATH naming the checkout (as a CI runner may set) would put the
    # source tree ahead of the fresh venv's site-packages, and the tests would
    # measure the checkout instead of what the install put in the venv.
    env = dict(os.environ if env is None else env)
    return {k: v for k, v in env.items() if not k.startswith("PYTHON") and k != "SEARCHSAFE_PURE_PYTHON"}


def _pip(py: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(py), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "-q", *args],
        check=True, capture_output=True, text=True, env=_clean_env(env),
    )


def _check(py: Path, cwd: Path) -> tuple[list[str], str]:
    env = _clean_env()
    out = subprocess.run([str(py), "-c", CHECK], check=True, cwd=cwd, capture_output=True, text=True, env=env)
    return out.stdout.splitlines(), out.stderr


@pytest.mark.slow
def test_pip_install_compiles_the_extension(tmp_path: Path) -> None:
    py = _fresh_venv(tmp_path / "venv")
    _pip(py, str(_source_copy(tmp_path / "src")))
    (path_line, result), err = _check(py, tmp_path)
    assert path_line.startswith("compiled ") and "site-packages" in path_line
    assert result == "['self_harm'] []" and err == ""


@pytest.mark.slow
def test_install_without_a_compiler_still_works_on_the_python_path(tmp_path: Path) -> None:
    py = _fresh_venv(tmp_path / "venv")
    env = {**os.environ, "CC": "false", "LDSHARED": "false"}
    _pip(py, str(_source_copy(tmp_path / "src")), env=env)
    (path_line, result), err = _check(py, tmp_path)
    assert path_line.startswith("python ") and result == "['self_harm'] []"
    assert "searchsafe's C extension is not built, so scoring runs on the slower pure-Python path" in err


@pytest.mark.slow
def test_editable_install_compiles_in_place(tmp_path: Path) -> None:
    src = _source_copy(tmp_path / "src")
    py = _fresh_venv(tmp_path / "venv")
    _pip(py, "-e", str(src))
    assert list((src / "searchsafe").glob("_speedups*.so")) or list((src / "searchsafe").glob("_speedups*.pyd"))
    (path_line, result), _ = _check(py, tmp_path)
    assert path_line == f"compiled {src / 'searchsafe' / '__init__.py'}" and result == "['self_harm'] []"


@pytest.mark.slow
def test_wheel_carries_the_extension_and_the_model(tmp_path: Path) -> None:
    src = _source_copy(tmp_path / "src")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path / "dist"), str(src)],
        check=True, capture_output=True, text=True, cwd=tmp_path,
    )
    (wheel,) = (tmp_path / "dist").glob("searchsafe-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("searchsafe/_speedups") for n in names)
    assert "searchsafe/default_model/weights.npz" in names
    py = _fresh_venv(tmp_path / "venv")
    _pip(py, str(wheel))
    (path_line, result), err = _check(py, tmp_path)
    assert path_line.startswith("compiled ") and "site-packages" in path_line
    assert result == "['self_harm'] []" and err == ""
    # The console script and every CLI module made it into the wheel.
    info = subprocess.run([str(py.parent / "searchsafe"), "info", "default"], check=True, cwd=tmp_path,
                          capture_output=True, text=True).stdout
    assert "name:       searchsafe-default" in info and "scoring:    compiled" in info


def readme_block_after(heading: str, lang: str) -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index(heading):]
    block = section[section.index(f"```{lang}\n") + len(lang) + 4:]
    return block[:block.index("```")].strip().splitlines()


def test_ci_runs_the_readmes_commands_in_a_fresh_venv() -> None:
    commands = readme_block_after("## Install and test", "bash")
    assert commands == ['python -m pip install -e ".[dev]"', "python -m pytest -n 2"]
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert script[-1] == commands[1]  # the README's test command, exactly, last
    install = script.index(commands[0])
    venv_line = next(i for i, line in enumerate(script) if '-m venv "$venv_dir"' in line)
    activate = next(i for i, line in enumerate(script) if line.startswith('. "$venv_dir/bin/activate"'))
    assert venv_line < activate < install < len(script) - 1
    for package in ("default-jre-headless", "chromium", "fonts-noto-cjk"):
        assert f"need+=({package})" in "\n".join(script)


def test_pytest_prints_skip_reasons() -> None:
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg", encoding="utf-8")
    assert "-rs" in cfg["tool:pytest"]["addopts"].split()
