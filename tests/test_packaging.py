"""A non-editable install into a fresh venv carries the default model and works from anywhere."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import sysconfig
import venv
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What a wheel is built from; a copy keeps setuptools' build/ and egg-info out of
# the checkout, and a stale build/ there could smuggle deleted modules into the wheel.
SOURCES = ("pyproject.toml", "setup.cfg", "README.md", "searchsafe", "models/default")


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        # pip's own words are the diagnosis (a missing bdist_wheel, an old setuptools...).
        pytest.fail(f"{' '.join(map(str, cmd))} exited {proc.returncode}\n"
                    f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}")
    return proc


def can_build_without_isolation() -> bool:
    try:
        setuptools_major = int(metadata.version("setuptools").split(".")[0])
    except metadata.PackageNotFoundError:
        return False
    # setuptools ships bdist_wheel itself from 70.1; before that it needs the wheel package.
    has_wheel = setuptools_major >= 71 or importlib.util.find_spec("wheel") is not None
    return setuptools_major >= 68 and has_wheel


def build_wheel(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    dist = tmp_path / "dist"
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", dist, src]
    if can_build_without_isolation():
        # The running interpreter's own setuptools (pinned in [dev]): no network needed.
        cmd[4:4] = ["--no-build-isolation", "--no-index"]
    run(cmd, cwd=tmp_path)
    (wheel,) = dist.glob("searchsafe-*.whl")
    return wheel


@pytest.mark.slow
def test_wheel_install_loads_default_model(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    env_dir = tmp_path / "venv"
    # Not system_site_packages: inside a venv "system" is the base interpreter,
    # which lacks our dependencies. The fresh venv sees this interpreter's
    # site-packages through plain path lines instead; a .pth line adds a path
    # without running that directory's own .pth files, so an editable
    # searchsafe installed there stays invisible and only the wheel can answer.
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    child_site = Path(run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          cwd=tmp_path).stdout.strip())
    parent_site = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (child_site / "zz_parent_site.pth").write_text("\n".join(parent_site) + "\n", encoding="utf-8")

    run([py, "-m", "pip", "install", "--no-deps", "--no-index", wheel], cwd=tmp_path)
    code = (
        "import searchsafe\n"
        "clf = searchsafe.load()\n"
        "print(searchsafe.__file__)\n"
        "print(clf.predict('자살 방법'), clf.predict('猫 飼い方'))\n"
    )
    out = run([py, "-c", code], cwd=tmp_path).stdout.splitlines()
    assert Path(out[0]).is_relative_to(child_site), out[0]
    assert out[1] == "['self_harm'] []"
    # The console script and every CLI module made it into the wheel.
    info = run([env_dir / "bin" / "searchsafe", "info", "default"], cwd=tmp_path).stdout
    assert "name:       searchsafe-default" in info


def readme_block_after(heading: str, lang: str) -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index(heading):]
    block = section[section.index(f"```{lang}\n") + len(lang) + 4:]
    return block[:block.index("```")].strip().splitlines()


def test_ci_runs_the_readmes_commands_in_a_fresh_venv() -> None:
    commands = readme_block_after("## Install and test", "bash")
    assert commands == ['python -m pip install -e ".[dev]"', "python -m pytest -n 2"]
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert script[-2:] == commands  # exactly the README's commands, last
    venv_line = next(i for i, line in enumerate(script) if '-m venv "$venv_dir"' in line)
    activate = next(i for i, line in enumerate(script) if line.startswith('. "$venv_dir/bin/activate"'))
    assert venv_line < activate < len(script) - 2
    for package in ("default-jre-headless", "chromium", "fonts-noto-cjk"):
        assert f"need+=({package})" in "\n".join(script)


def test_pytest_prints_skip_reasons() -> None:
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg", encoding="utf-8")
    assert "-rs" in cfg["tool:pytest"]["addopts"].split()
