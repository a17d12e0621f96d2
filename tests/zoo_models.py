"""The shipped model zoo's entries (``zoo/manifest.json``) for parametrized tests."""
import json

from tests.helpers import REPO_ROOT

ZOO = REPO_ROOT / "zoo"


def zoo_models() -> list[dict]:
    """Each manifest entry with its absolute ``path``; empty when the zoo is absent."""
    manifest = ZOO / "manifest.json"
    if not manifest.is_file():
        return []
    return [{**entry, "path": str(ZOO / entry["file"])} for entry in json.loads(manifest.read_text())["models"]]
