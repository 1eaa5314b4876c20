"""A freed year of minutes comes back without page faults once the thresholds are raised."""

import resource

import numpy as np

from shared.freed_memory import keep_freed_pages


def test_a_freed_year_of_minutes_is_reused_without_page_faults() -> None:
    assert keep_freed_pages()
    np.ones(525_600)  # 4 MB, faulted in once, freed
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        np.ones(525_600)  # handed to the kernel on free, each would fault in 1,028 pages
    assert resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before < 200
