"""The web UI's copy of a ranking rule matches the platform's (the pages are plain JS)."""

import json
import re
from pathlib import Path

from domain.metrics.names import LOWER_IS_BETTER

PAGES = Path(__file__).resolve().parents[2] / "services/api/ui/static/js/pages.js"


def test_the_heatmap_ranks_metrics_the_way_the_platform_does() -> None:
    found = re.search(r"const LOWER_IS_BETTER = (\[.*?\]);", PAGES.read_text())
    assert found is not None
    assert set(json.loads(found.group(1))) == set(LOWER_IS_BETTER)
