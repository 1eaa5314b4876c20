"""Where the tests find the project's files, whatever folder a test lives in."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UNIT_DATA = ROOT / "tests" / "unit" / "data"
TEST_PLUGINS = ROOT / "tests" / "plugins"
