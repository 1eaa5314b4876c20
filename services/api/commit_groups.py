"""Jobs created a group per transaction: the AMQP submissions in hand at once share one
BEGIN and one COMMIT and claim their keys in one statement (each still inserts its own job and
outbox row, as `create_once` does), so a burst from a producer costs the database one commit
and one claim per group instead of one each per job.

A group starts as soon as a job waits and fewer than `at_once` groups are running, so a lone
submission waits for no one; under load the next group takes every job that arrived meanwhile
(at most `largest`). A group that fails because PostgreSQL is away fails each of its jobs the
same way (each is held and retried by its consumer); one that fails by itself (a job's own
error, a deadlock between two groups) is run again one job per transaction, in order, so each
job gets its own outcome. A job whose caller gave up before its group started is not created.
"""

import asyncio
import logging

import asyncpg

from services.api.idempotency import Creation, Submission, claim_and_create_all, create_once
from shared.dependencies import unreachable_server
from shared.repos.idempotency import EarlierSubmission

log = logging.getLogger(__name__)

LARGEST_GROUP = 32
# Two: one group commits while the next gathers; more only makes the groups smaller (more
# transactions, more round trips) on a busy machine.
GROUPS_AT_ONCE = 2

_Waiting = tuple[Creation, "asyncio.Future[Submission]"]


class CommitGroups:
    def __init__(
        self, pool: asyncpg.Pool, *, largest: int = LARGEST_GROUP, at_once: int = GROUPS_AT_ONCE
    ) -> None:
        self._pool = pool
        self._largest = largest
        self._at_once = at_once
        self._waiting: list[_Waiting] = []
        self._running: set[asyncio.Task[None]] = set()

    async def create_once(self, creation: Creation) -> Submission:
        """Create the job with the next group, unless its key did so already."""
        answer: asyncio.Future[Submission] = asyncio.get_running_loop().create_future()
        self._waiting.append((creation, answer))
        if len(self._running) < self._at_once:
            task = asyncio.create_task(self._run_groups())
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        return await answer

    async def _run_groups(self) -> None:
        while self._waiting:
            group = [(c, a) for c, a in self._waiting[: self._largest] if not a.done()]
            del self._waiting[: self._largest]
            if group:
                await self._create(group)

    async def _create(self, group: list[_Waiting]) -> None:
        try:
            earlier = await self._in_one_transaction([c for c, _ in group])
        except Exception as exc:
            if len(group) > 1 and unreachable_server(exc) is None:
                log.warning(
                    "a group of jobs failed together; creating them one by one",
                    extra={"jobs": len(group), "error": f"{type(exc).__name__}: {exc}"},
                )
                for creation, answer in group:  # in their order: the first of a key wins
                    await self._alone(creation, answer)
            else:
                for _, answer in group:
                    _settle(answer, exc)
            return
        for (creation, answer), found in zip(group, earlier, strict=True):
            try:
                _settle(answer, creation.outcome(found))
            except Exception as refused:  # a key reused for another request
                _settle(answer, refused)

    async def _in_one_transaction(
        self, creations: list[Creation]
    ) -> list[EarlierSubmission | None]:
        async with self._pool.acquire() as conn, conn.transaction():
            return await claim_and_create_all(conn, creations)

    async def _alone(self, creation: Creation, answer: "asyncio.Future[Submission]") -> None:
        try:
            _settle(answer, await create_once(self._pool, creation))
        except Exception as exc:
            _settle(answer, exc)


def _settle(answer: "asyncio.Future[Submission]", outcome: Submission | Exception) -> None:
    """Give the waiting caller its outcome (unless it stopped waiting)."""
    if answer.done():
        return
    if isinstance(outcome, Exception):
        answer.set_exception(outcome)
    else:
        answer.set_result(outcome)
