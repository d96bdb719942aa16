"""The validation pool under a burst: every compute answers, and its processes are renewed
without the hang of the executor's own per-process task limit (CPython gh-115634)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from guichet.depot.compute import ComputePool

BAL = (Path(__file__).parent / "data" / "bal-valid-31591.csv").read_bytes()


async def test_200_computes_at_once_all_answer_and_the_processes_are_renewed() -> None:
    pool = ComputePool(workers=2, timeout=300, renew_after=50)
    try:
        checks = await asyncio.wait_for(
            asyncio.gather(*(pool.check(BAL, "31591") for _ in range(200))), timeout=600
        )
    finally:
        pool.shutdown()
    assert len(checks) == 200
    assert all(check.parse_ok and check.all_rows_in_commune for check in checks)
    assert {check.rows_count for check in checks} == {checks[0].rows_count}
    assert pool.renewals == 3  # 200 tasks, a new executor every 50


async def test_a_renewed_pool_still_answers_one_by_one() -> None:
    pool = ComputePool(workers=1, timeout=300, renew_after=2)
    try:
        for _ in range(5):
            assert (await pool.check(BAL, "31591")).parse_ok
    finally:
        pool.shutdown()
    assert pool.renewals == 2
