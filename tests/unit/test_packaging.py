"""An installed (non-editable) specens has every package and the bundled models."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_python_package_in_the_tree_is_listed_for_installation():
    """pyproject's explicit package list covers specens/*, and reference/ maps to specens.reference."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {"specens." + p.parent.relative_to(ROOT / "specens").as_posix().replace("/", ".")
             for p in (ROOT / "specens").rglob("__init__.py") if p.parent != ROOT / "specens"}
    assert found | {"specens", "specens.reference"} <= listed, sorted(found - listed)
    assert config["package-dir"]["specens.reference"] == "reference"


def test_bundled_model_files_are_package_data():
    """specens/models/** ships with the package (weights, configs, tokenizer, cards)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "models/**/*" in config["package-data"]["specens"]
    assert (ROOT / "specens/models/pylib/model.safetensors").exists()
