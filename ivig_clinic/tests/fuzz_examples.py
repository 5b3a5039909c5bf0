"""How many examples each fuzz search runs (test_forms_fuzz.py, test_api_fuzz.py).

CI's second pass (the same suite on PostgreSQL) sets FUZZ_EXAMPLES_PERCENT=50 and replays the first half
of each search: the searches are derandomized, so its inputs are the first pass's own, and what the
fuzzers look for, input handling, does not depend on the engine. The first pass runs them all."""

import os


def examples(full: int) -> int:
    """`full` examples scaled by FUZZ_EXAMPLES_PERCENT (100 unless set), at least one."""
    return max(1, full * int(os.environ.get("FUZZ_EXAMPLES_PERCENT", "100")) // 100)
