"""The UI's vendored chart libraries are the npm packages' files, unchanged (manifest sums)."""

import hashlib
import json
from pathlib import Path

from services.api.ui.pages import STATIC_DIR

VENDOR = STATIC_DIR / "vendor"


def test_every_vendored_file_matches_its_recorded_sha256_and_version() -> None:
    manifest = json.loads((VENDOR / "manifest.json").read_text())
    files = manifest["files"]
    on_disk = {p.name for p in VENDOR.iterdir()} - {"manifest.json"}
    assert on_disk == set(files), "a vendored file is missing from the manifest or the folder"
    for name, entry in files.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == entry["sha256"], name
        assert entry["package"] in {"lightweight-charts", "uplot", "echarts"}
        assert entry["version"].count(".") == 2
    assert {(e["package"], e["version"]) for e in files.values()} == {
        ("lightweight-charts", "4.2.3"),
        ("uplot", "1.6.31"),
        ("echarts", "5.6.0"),
    }


def test_the_page_loads_only_files_that_ship_with_the_project() -> None:
    page = (STATIC_DIR / "index.html").read_text()
    assert "http://" not in page and "https://" not in page
    for src in (
        "vendor/lightweight-charts.standalone.production.js",
        "vendor/uPlot.iife.min.js",
        "vendor/echarts.min.js",
    ):
        assert f"/ui/{src}" in page and (STATIC_DIR / src).is_file()


def test_the_licenses_ship_beside_the_libraries() -> None:
    assert "Apache License" in Path(VENDOR / "LICENSE.lightweight-charts").read_text()
    assert "MIT" in Path(VENDOR / "LICENSE.uplot").read_text()
    assert "Apache License" in Path(VENDOR / "LICENSE.echarts").read_text()
