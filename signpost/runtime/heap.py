"""The Python heap of a long-running service, tuned for the garbage collector's pauses.

Measured (bench/README.md): the collector, not Signpost's code, was most of the cost of a
report in both hot paths. Intake's full collections walked the whole start-up heap and the
status projection, stalling every request for up to 166 ms; the router's batches of hundreds of
reports outlived the young generation's 700 allocations, were promoted, and set off full
collections of the same heap every few thousand reports.
"""

from __future__ import annotations

import gc

# Collect the young generation after this many net allocations, not 700: a batch's objects
# (hundreds of reports, ten objects each) are freed by reference counting before it is due.
YOUNG_THRESHOLD = 50_000


def tune_garbage_collector() -> None:
    """Call once, when the service is built and before it takes traffic: put everything made
    at start-up (modules, schemas, the bundle, the app; ~95,000 objects in intake) beyond the
    collector's reach, since it lives as long as the process, and collect less often."""
    gc.collect()  # what is garbage now must not be kept for ever
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
