"""A non-editable install into a fresh venv carries the default model and works from anywhere."""

from __future__ import annotations

import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_install_loads_default_model(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    # Dependencies come from this environment; the test is about what the
    # package itself carries, so the install uses no network and no build isolation.
    venv.EnvBuilder(system_site_packages=True, with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    subprocess.run(
        [str(py), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "-q", str(ROOT)],
        check=True, cwd=tmp_path, capture_output=True,
    )
    code = (
        "import searchsafe, pathlib\n"
        "clf = searchsafe.load()\n"
        "assert 'site-packages' in searchsafe.__file__, searchsafe.__file__\n"
        "print(clf.predict('자살 방법'), clf.predict('猫 飼い方'))\n"
    )
    out = subprocess.run([str(py), "-c", code], check=True, cwd=tmp_path, capture_output=True, text=True)
    assert out.stdout.strip() == "['self_harm'] []"
    # The console script reaches the CLI package (searchsafe/cli/ must be in the wheel).
    cli = subprocess.run([str(env_dir / "bin" / "searchsafe"), "info"], cwd=tmp_path, capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.startswith("name:")
