"""numba's on-disk cache, keyed on every source file of the domain.

numba stamps a cached function with its own file only, but the domain's kernels inline
helpers from other modules (`kernel.py` and `portfolio.py` call `positions.py`): after a
change to a helper alone, the kernel's stale machine code would load. Here the domain's
compiled functions are stamped with a digest of all of the domain's sources, so any change
to them recompiles every kernel once. The domain's modules take `njit` (and the rare
`intrinsic` with its `types` and `llvm_ir`) from here, so the locators are in place before
any of them compiles, and a process that never compiles (the API) never imports numba."""

import functools
import hashlib
from pathlib import Path
from typing import Any

from numba import njit, types
from numba.core import caching, cgutils
from numba.core.extending import intrinsic

DOMAIN_ROOT = Path(__file__).resolve().parent


def sources_digest(root: Path) -> str:
    """sha256 over the relative path and the bytes of every `.py` file under `root`."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


@functools.cache
def _domain_digest() -> str:
    return sources_digest(DOMAIN_ROOT)


class _StampedByTheDomain:
    """Mixed into numba's own locators: found only for the domain's functions, and stamped
    with the digest of all of the domain's sources instead of the function's file."""

    @classmethod
    def from_function(cls, py_func: Any, py_file: str) -> Any:
        if not Path(py_file).resolve().is_relative_to(DOMAIN_ROOT):
            return None
        return super().from_function(py_func, py_file)  # type: ignore[misc]

    def get_source_stamp(self) -> str:
        return _domain_digest()


_WRAPPED = (
    caching.UserProvidedCacheLocator,  # NUMBA_CACHE_DIR, when set
    caching.InTreeCacheLocator,  # __pycache__ beside the source
    caching.UserWideCacheLocator,  # the user's cache directory, when __pycache__ is read-only
)
DOMAIN_LOCATORS: tuple[type[Any], ...] = tuple(
    type(f"Domain{locator.__name__}", (_StampedByTheDomain, locator), {}) for locator in _WRAPPED
)


def stamp_compiled_functions_with_the_domain() -> None:
    """Put the domain's locators first (once), before any kernel is compiled or loaded."""
    classes: list[type[Any]] = caching.CacheImpl._locator_classes
    if classes[: len(DOMAIN_LOCATORS)] != list(DOMAIN_LOCATORS):
        classes[:0] = DOMAIN_LOCATORS


stamp_compiled_functions_with_the_domain()

# The LLVM IR builder numba's intrinsics write their code with (llvmlite's, as numba has it).
llvm_ir: Any = cgutils.ir  # type: ignore[attr-defined]

__all__ = ["intrinsic", "llvm_ir", "njit", "types"]
