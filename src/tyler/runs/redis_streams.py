"""`RedisRunLog`: the run log on Redis Streams, shared by any number of workers and hosts.

Keys (prefix `tyler:` by default; the run id in braces keeps a run's keys in one cluster slot):

    {p}run:{<id>}          hash: status, owner, created_at, finished_at, error, metadata (JSON), seq
    {p}run:{<id>}:log      stream: one entry per event, fields t (type), d (JSON), n (seq)
    {p}worker:<wid>        lease: set with a TTL by the worker's heartbeat
    {p}worker:<wid>:ctl    stream: cancel requests addressed to that worker

Writes of all runs are queued and sent as one pipeline per event-loop turn (see `_write`); every
write goes through a Lua script that first checks `status == running` and `owner == me`
(fencing): a worker that was declared dead and comes back cannot add a second ending. `finish`
appends the terminal event and sets the final status in the same script. Appends carry the seq
the writer expects for each event, so a call redis-py resends after losing its reply (a client
with retries) returns the entry already written instead of adding it twice. Readers on the worker
that drives the run follow its `LocalTail` (the confirmed entries, same ids and seqs, no round
trip per event); other readers, and local ones that fell behind the tail's window, use one
`XREAD BLOCK` loop from the last id they delivered — replay and live tail read the same stream, so
there is no gap and no duplicate. When a read times out the reader looks at the run: a running run
whose owner's lease has expired is ended by `reap` (a script that re-checks the lease) with a
terminal EXECUTION_ERROR every reader receives. Bounds: `max_events` per run (`MAXLEN ~`), the
log expires `retention` seconds after the run ends and its status hash `record_retention` seconds
after (so a late resume is still answered, from the thread store; the owner's heartbeat keeps a
live run's keys),
control streams are capped, blocking reads last at most `block` seconds. Needs Redis >= 7.0.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..exceptions import ConfigurationError, RunLimitError, RunLogError, RunLogUnavailableError, RunOwnershipError
from ._base import (
    LogEntry,
    QueuedRun,
    RunInfo,
    RunStatus,
    bad_event_id,
    check_metadata,
    expired_event_id,
    now,
    terminal_error,
)
from ._follow import Follower
from ._tail import LocalTail

log = logging.getLogger("tyler.runs")
T = TypeVar("T")
_STREAM_ID = re.compile(r"\d{1,20}-\d{1,20}")
_CTL_MAXLEN = 1000
_FLIGHTS = 4  # write batches in flight at once

# KEYS: run hash, the thread's active-run key ('' if none); ARGV: owner, created_at, metadata json, ttl ms, run id
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'status', 'running', 'owner', ARGV[1], 'created_at', ARGV[2], 'metadata', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if KEYS[2] ~= '' then redis.call('SET', KEYS[2], ARGV[5], 'PX', ARGV[4]) end
return 1
"""
# Appends of a batch (any runs): no KEYS (the keys are made here from the run ids: one argument per
# batch instead of five per event, since packing the arguments was the batch's largest cost);
# ARGV: key prefix, owner, maxlen, ttl ms, then a JSON array of [run id, type, data, expected seq]
# per event. Returns per event {entry id, seq}, or false if fenced. Idempotent: redis-py resends a
# command whose reply was lost (its default retry on ConnectionError/TimeoutError), so an event whose
# expected seq is already in the log was written by an earlier delivery of this call: its entry is
# returned instead of a second copy. Expected seq 0: unknown (after a failed write), append unchecked.
_APPEND_MANY = """
local out = {}
local batch = cjson.decode(ARGV[5])
for i = 1, #batch do
  local ev = batch[i]
  local run = ARGV[1] .. 'run:{' .. ev[1] .. '}'
  local log = run .. ':log'
  local st = redis.call('HMGET', run, 'status', 'owner', 'seq')
  local want = ev[4]
  local cur = tonumber(st[3] or '0')
  if st[1] ~= 'running' or st[2] ~= ARGV[2] then
    out[i] = false
  else
    if want > 0 and want <= cur then
      local found = redis.call('XREVRANGE', log, '+', '-', 'COUNT', cur - want + 1)
      local last = found[#found]
      if last then
        local f = last[2]
        for j = 1, #f, 2 do
          if f[j] == 'n' and tonumber(f[j + 1]) == want then out[i] = {last[1], want} end
        end
      end
    end
    if not out[i] then  -- new (the newest entries are never trimmed, so a repeat is always found)
      local n = redis.call('HINCRBY', run, 'seq', 1)
      local id = redis.call('XADD', log, 'MAXLEN', '~', ARGV[3], '*', 't', ev[2], 'd', ev[3], 'n', n)
      if n == 1 or want ~= n then redis.call('PEXPIRE', log, ARGV[4], 'NX') end  -- once: the heartbeat renews it
      out[i] = {id, n}
    end
  end
end
return out
"""
# KEYS: run hash, log, owner's lease, the thread's active-run key, the run queue; ARGV: owner, maxlen, type, data,
# retention ms, status, error, finished_at, mode ('own': the owner ends its run; 'reap': only if the
# owner's lease is gone; 'queued': a run no worker has claimed yet), run id, record retention ms.
# Returns {entry id, seq}, nil if fenced.
_FINISH = """
local st = redis.call('HMGET', KEYS[1], 'status', 'owner')
if ARGV[9] == 'queued' then
  if st[1] ~= 'queued' then return false end
  local job = redis.call('HGET', KEYS[1], 'job')
  if job then redis.call('XDEL', KEYS[5], job) end  -- a worker that read it already finds it ended
elseif st[1] ~= 'running' or st[2] ~= ARGV[1] then return false end
if ARGV[9] == 'reap' and redis.call('EXISTS', KEYS[3]) == 1 then return false end
local n = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 't', ARGV[3], 'd', ARGV[4], 'n', n)
redis.call('HSET', KEYS[1], 'status', ARGV[6], 'error', ARGV[7], 'finished_at', ARGV[8])
redis.call('PEXPIRE', KEYS[1], ARGV[11])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
if KEYS[4] ~= '' and redis.call('GET', KEYS[4]) == ARGV[10] then redis.call('DEL', KEYS[4]) end
return {id, n}
"""

# The shared run queue (dispatch). KEYS: run hash, '' (the active-run key is set once queued);
# ARGV: created_at, metadata json, ttl ms, run id
_QUEUED = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'status', 'queued', 'owner', '', 'created_at', ARGV[1], 'metadata', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if KEYS[2] ~= '' then redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[3]) end
return 1
"""
# KEYS: queue, run hash; ARGV: max length, run id, job. The job's queue entry is kept on the run, so
# cancelling the queued run frees its place in the (bounded) queue at once.
_PUSH = """
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then return false end
local id = redis.call('XADD', KEYS[1], '*', 'run', ARGV[2], 'job', ARGV[3])
redis.call('HSET', KEYS[2], 'job', id)
return id
"""
# KEYS: run hash; ARGV: owner, ttl ms
_CLAIM = """
if redis.call('HGET', KEYS[1], 'status') ~= 'queued' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'running', 'owner', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
# KEYS: queue; ARGV: group, this worker, idle ms. Drops the group's consumers that hold no job and
# were idle that long (workers killed without closing leave theirs behind; a live worker that reads
# again is simply added back). Atomic: a consumer cannot take a job between the look and the delete.
_PRUNE = """
local dropped = 0
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local f = {}
  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
  if f['name'] ~= ARGV[2] and tonumber(f['pending']) == 0 and tonumber(f['idle']) > tonumber(ARGV[3]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name'])
    dropped = dropped + 1
  end
end
return dropped
"""
_GROUP = "workers"
_PRUNE_EVERY = 60.0  # seconds between looks for consumers of dead workers


@dataclass(slots=True)
class _Write:
    """One queued write (append or finish) and the future its caller awaits."""

    run_id: str
    type_: str
    data: str
    done: asyncio.Future[str | None]
    ending: list[Any] | None = None  # finish: the _FINISH script's keys + args (None: an append)
    expect: int = 0  # an append: the seq it gets (0: unknown), so a resent call does not write it twice


class RedisRunLog:
    """Run log on Redis Streams (see the module docstring).

    Args:
        url: `redis://host:port/db`.
        prefix: key prefix (several deployments can share one Redis).
        lease: seconds without a heartbeat after which this worker counts as dead; its runs are
            then ended by the first reader or status query that looks (bound: lease + block).
        retention: seconds a finished run's log is kept.
        record_retention: seconds a finished run's status record is kept (at least `retention`).
        max_events: approximate cap on entries per run (`XADD MAXLEN ~`).
        max_queue: runs waiting in the shared queue for a worker; one more raises `RunLimitError`.
        local_events: newest entries of each run kept in memory for readers on this worker: the
            runs it drives, and the runs it follows for readers through one shared XREAD (0: every
            reader reads Redis on its own).
        tail_grace: seconds a finished run's local entries stay for readers still catching up.
    """

    def __init__(
        self, url: str, *, prefix: str = "tyler:", lease: float = 5.0, retention: float = 3600.0,
        max_events: int = 100_000, client: Any = None, record_retention: float = 7 * 86400.0,
        max_queue: int = 1000, local_events: int = 1024, tail_grace: float = 30.0,
    ) -> None:
        if lease <= 0 or retention <= 0 or max_events < 1 or local_events < 0 or tail_grace < 0:
            raise RunLogError("lease and retention must be > 0, max_events >= 1, local_events and tail_grace >= 0")
        try:
            import redis.asyncio as aioredis
        except ImportError as exc:  # pragma: no cover - the extra is part of dev installs
            raise ConfigurationError(
                "the Redis run log needs the 'redis' extra: pip install 'tyler-stream[redis]'"
            ) from exc
        self._errors: tuple[type[BaseException], ...] = (aioredis.RedisError, OSError)
        from redis.exceptions import NoScriptError

        self._noscript: type[BaseException] = NoScriptError
        # Any: redis-py types commands as "sync or async" unions
        self._redis: Any = client if client is not None else aioredis.Redis.from_url(url, decode_responses=True)
        self.url = url
        self.prefix = prefix
        self.lease = lease
        self.retention = retention
        self.record_retention = max(record_retention, retention)
        self.worker_id = f"{uuid.uuid4().hex[:16]}"
        self._max_events = max_events
        self._local_events = local_events
        self._tail_grace = tail_grace
        self._tails: dict[str, LocalTail] = {}
        self._writes: list[_Write] = []  # queued for the next pipeline, in call order
        self._flights: set[asyncio.Task[None]] = set()  # batches in flight
        self._flying: set[str] = set()  # runs with a write in flight
        self._pump_soon = False
        self._follower = None if not local_events else Follower(
            self._xread, self._log_key, size=min(local_events, max_events), grace=min(tail_grace, retention),
        )
        self._create = self._redis.register_script(_CREATE)
        self._append_many = self._redis.register_script(_APPEND_MANY)
        self._finish = self._redis.register_script(_FINISH)
        self._queued = self._redis.register_script(_QUEUED)
        self._push = self._redis.register_script(_PUSH)
        self._claim = self._redis.register_script(_CLAIM)
        self._prune = self._redis.register_script(_PRUNE)
        self._next_prune = 0.0
        self.max_queue = max_queue
        self._next_autoclaim = 0.0
        self._owned: set[str] = set()
        self._active_keys: dict[str, str] = {}  # run id -> its thread's active-run key
        # run id -> the last seq given to one of its appends (absent: unknown, after a failed write);
        # a run's writes are never in flight together, so this is the log's seq once they land
        self._seqs: dict[str, int] = {}
        self._unfinished: dict[str, tuple[str, str, RunStatus, str | None]] = {}
        self._ctl_last = "0-0"  # worker ids are fresh: everything in our control stream is for us
        self._closed = False

    # -- keys --------------------------------------------------------------------------------------

    def _run_key(self, run_id: str) -> str:
        # _APPEND_MANY builds this key and _log_key's in Lua from the prefix: change them together.
        return f"{self.prefix}run:{{{run_id}}}"

    def _log_key(self, run_id: str) -> str:
        return f"{self.prefix}run:{{{run_id}}}:log"

    def _lease_key(self, worker: str) -> str:
        return f"{self.prefix}worker:{worker}"

    def _active_key(self, metadata: dict[str, str]) -> str:
        thread_id = metadata.get("thread_id")
        return "" if thread_id is None else f"{self.prefix}thread:{{{thread_id}}}:active"

    def _ctl_key(self, worker: str) -> str:
        return f"{self.prefix}worker:{worker}:ctl"

    @property
    def _queue_key(self) -> str:
        return f"{self.prefix}queue"

    @property
    def _retention_ms(self) -> int:
        return max(int(self.retention * 1000), 1)

    async def _call(self, make: Callable[[], Awaitable[T]]) -> T:
        try:
            return await make()
        except self._errors as exc:
            raise RunLogUnavailableError(f"Redis run log at {self.url} failed: {exc}") from exc

    # -- lifecycle ---------------------------------------------------------------------------------

    async def open(self) -> None:
        """Check the server (a clear error now if Redis is down or too old) and take the lease."""
        info = await self._call(lambda: self._redis.info("server"))
        version = tuple(int(p) for p in str(info.get("redis_version", "0")).split(".")[:2])
        if version < (7, 0):
            found = info.get("redis_version")
            raise ConfigurationError(f"the Redis run log needs Redis >= 7.0, {self.url} runs {found}")
        self._closed = False
        await self._beat()
        await self._load_scripts()  # the write pipeline calls them by sha
        try:  # the group every worker takes queued runs through (made once, by whoever comes first)
            await self._redis.xgroup_create(self._queue_key, _GROUP, id="0", mkstream=True)
        except self._errors as exc:
            if "BUSYGROUP" not in str(exc):
                raise RunLogUnavailableError(f"Redis run log at {self.url} failed: {exc}") from exc

    async def close(self) -> None:
        self._closed = True
        while self._flights or self._writes:  # what was queued is sent (or failed) before the connection goes
            if self._flights:
                await asyncio.gather(*self._flights, return_exceptions=True)
            else:
                await asyncio.sleep(0)  # a pump is scheduled
        for tail in self._tails.values():
            tail.break_off()
        self._tails.clear()
        if self._follower is not None:
            await self._follower.close()
        try:
            # This worker acks each job as soon as it claims it, so it leaves nothing pending.
            await self._redis.xgroup_delconsumer(self._queue_key, _GROUP, self.worker_id)
            if not self._owned:
                await self._redis.delete(self._lease_key(self.worker_id))
        except self._errors:
            pass  # closing: the lease expires on its own
        finally:
            await self._redis.aclose()

    async def _beat(self) -> None:
        """Renew this worker's lease, keep its runs' keys alive, retry endings Redis refused."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(self._lease_key(self.worker_id), str(now()), px=max(int(self.lease * 1000), 1))
            for run_id in self._owned:
                pipe.pexpire(self._run_key(run_id), self._retention_ms)
                pipe.pexpire(self._log_key(run_id), self._retention_ms)
            await self._call(pipe.execute)
        for run_id, (type_, data, status, error) in list(self._unfinished.items()):
            try:
                await self.finish(run_id, type_, data, status, error)
            except RunOwnershipError:
                self._unfinished.pop(run_id, None)
                self._owned.discard(run_id)

    # -- writers -----------------------------------------------------------------------------------

    async def create(self, run_id: str, metadata: dict[str, str]) -> None:
        metadata = check_metadata(metadata)
        active = self._active_key(metadata)
        created = await self._call(lambda: self._create(
            keys=[self._run_key(run_id), active],
            args=[self.worker_id, repr(now()), json.dumps(metadata), self._retention_ms, run_id],
        ))
        if not created:
            raise RunLogError(f"run {run_id!r} already exists")
        self._owned.add(run_id)
        self._active_keys[run_id] = active
        self._seqs[run_id] = 0
        if self._local_events:
            self._tails[run_id] = LocalTail(min(self._local_events, self._max_events))  # never more than Redis keeps

    async def append(self, run_id: str, type_: str, data: str) -> str:
        reply = await self._write(_Write(run_id, type_, data, asyncio.get_running_loop().create_future()))
        if reply is None:
            self._owned.discard(run_id)
            self._seqs.pop(run_id, None)
            raise RunOwnershipError(f"run {run_id!r} is no longer owned by worker {self.worker_id}")
        return reply

    async def finish(self, run_id: str, type_: str, data: str, status: RunStatus, error: str | None) -> str:
        try:
            entry_id = await self._end(
                run_id, self.worker_id, "own", type_=type_, data=data, status=status, error=error,
                active=self._active_keys.get(run_id, ""),
            )
        except RunLogUnavailableError:
            self._unfinished[run_id] = (type_, data, status, error)  # the heartbeat retries it
            raise
        self._unfinished.pop(run_id, None)
        self._owned.discard(run_id)
        self._active_keys.pop(run_id, None)
        self._seqs.pop(run_id, None)
        if entry_id is None:
            raise RunOwnershipError(f"run {run_id!r} is no longer owned by worker {self.worker_id}")
        return entry_id

    async def _end(
        self, run_id: str, owner: str, mode: str, *, type_: str, data: str, status: RunStatus, error: str | None,
        active: str,
    ) -> str | None:
        keys = [self._run_key(run_id), self._log_key(run_id), self._lease_key(owner), active, self._queue_key]
        args = [owner, self._max_events, type_, data, self._retention_ms, status.value, error or "", repr(now()),
                mode, run_id, max(int(self.record_retention * 1000), 1)]
        future = asyncio.get_running_loop().create_future()
        return await self._write(_Write(run_id, type_, data, future, [len(keys), *keys, *args]))

    # -- the write pipeline ------------------------------------------------------------------------
    # Appends and endings of all runs are queued and sent together once per turn of the event loop:
    # consecutive appends go as one script call, so 100 streams cost one round trip and one command
    # per tick instead of 100 of each. Up to `_FLIGHTS` batches are in flight at once (on a busy
    # machine each round trip waits for Redis to be scheduled; one at a time caps the rate), but a
    # run's writes never overtake each other: a run with a batch in flight waits for the next one.
    # The scripts still check fencing and number each entry inside Redis. (Keys of several runs in
    # one call: not for Redis Cluster.)

    async def _write(self, write: _Write) -> str | None:
        """Queue `write`; its entry id once Redis confirmed it (None: this worker was fenced out)."""
        self._writes.append(write)
        if not self._pump_soon:
            self._pump_soon = True  # after this turn of the loop: what it queues goes together
            asyncio.get_running_loop().call_soon(self._pump)
        return await write.done

    def _pump(self) -> None:
        self._pump_soon = False
        while self._writes and len(self._flights) < _FLIGHTS:
            batch: list[_Write] = []
            held: list[_Write] = []
            for write in self._writes:
                (held if write.run_id in self._flying else batch).append(write)
            if not batch:
                return
            self._writes = held
            self._flying.update(w.run_id for w in batch)
            task = asyncio.create_task(self._fly(batch), name="tyler-runlog-write")
            self._flights.add(task)

    async def _fly(self, batch: list[_Write]) -> None:
        try:
            replies = await self._send(batch)
        except Exception as exc:
            failed: RunLogError = RunLogError(f"the run log's write pipeline failed: {exc!r}")
            if isinstance(exc, self._errors):
                failed = RunLogUnavailableError(f"Redis run log at {self.url} failed: {exc}")
            replies = [failed] * len(batch)
        except BaseException:  # cancelled: nobody may wait forever
            replies = [RunLogUnavailableError("the run log was closed")] * len(batch)
            raise
        finally:
            # Readers first, then the writers: a writer resumed here runs its producer up to its
            # next event, and readers queued behind 100 of those would wait for all of them.
            results = [self._settle(write, reply) for write, reply in zip(batch, replies, strict=True)]
            for write, result in zip(batch, results, strict=True):
                if write.done.done():
                    continue
                if isinstance(result, BaseException):
                    write.done.set_exception(result)
                else:
                    write.done.set_result(result)
            self._flying.difference_update(w.run_id for w in batch)
            task = asyncio.current_task()
            if task is not None:
                self._flights.discard(task)
            if self._writes and not self._pump_soon:
                self._pump_soon = True
                asyncio.get_running_loop().call_soon(self._pump)

    async def _send(self, batch: list[_Write]) -> list[Any]:
        """Send `batch` in order as one pipeline; one reply per write. Scripts Redis forgot (restart,
        SCRIPT FLUSH) are loaded and the pipeline sent once more: a NOSCRIPT call did not run, and
        in a pipeline either every call finds its script or none does (nothing runs in between)."""
        groups: list[list[_Write]] = []
        for write in batch:
            if groups and write.ending is None and groups[-1][-1].ending is None:
                groups[-1].append(write)
            else:
                groups.append([write])
            if write.ending is None and write.run_id in self._seqs:
                self._seqs[write.run_id] += 1
                write.expect = self._seqs[write.run_id]
        for attempt in range(2):
            async with self._redis.pipeline(transaction=False) as pipe:
                for group in groups:
                    if group[0].ending is not None:
                        pipe.evalsha(self._finish.sha, *group[0].ending)
                        continue
                    events = json.dumps([(w.run_id, w.type_, w.data, w.expect) for w in group], ensure_ascii=False)
                    pipe.evalsha(self._append_many.sha, 0, self.prefix, self.worker_id, self._max_events,
                                 self._retention_ms, events)
                replies = await pipe.execute(raise_on_error=False)
            if attempt == 0 and any(isinstance(r, self._noscript) for r in replies):
                await self._load_scripts()
                continue
            break
        out: list[Any] = []
        for group, reply in zip(groups, replies, strict=True):
            if group[0].ending is not None or isinstance(reply, BaseException):
                out.extend([reply] * len(group))
            else:
                out.extend(reply)
        return out

    def _settle(self, write: _Write, reply: Any) -> BaseException | str | None:
        """A reply's result for its caller; for this worker's runs, the entry goes to the local tail
        (also when the caller stopped waiting: the entry is in Redis, so local readers must get it too)."""
        reap = write.ending is not None and write.ending[write.ending[0] + 1] != self.worker_id
        tail = None if reap else self._tails.get(write.run_id)
        if isinstance(reply, list) and len(reply) == 2:
            entry_id = str(reply[0])
            if write.ending is None and write.expect == 0 and write.run_id in self._owned:
                self._seqs[write.run_id] = max(self._seqs.get(write.run_id, 0), int(reply[1]))  # known again
            if tail is not None:
                tail.add(LogEntry(entry_id, write.type_, write.data, int(reply[1])))
                if tail.done:
                    asyncio.get_running_loop().call_later(  # never longer than Redis keeps the log
                        min(self._tail_grace, self.retention), self._drop_tail, write.run_id, tail)
            result: BaseException | str | None = entry_id
        elif reply is None:
            result = None
        elif isinstance(reply, BaseException):
            result = reply if isinstance(reply, RunLogError) else RunLogUnavailableError(
                f"Redis run log at {self.url} failed: {reply}")
        else:
            result = RunLogError(f"unexpected reply from the run log script: {reply!r}")
        if write.ending is None and isinstance(result, BaseException):
            self._seqs.pop(write.run_id, None)  # it may or may not be in the log: unknown from here on
        if tail is not None and not isinstance(result, str):
            tail.break_off()  # fenced out or failed: the shared log is the truth from here on
            self._drop_tail(write.run_id, tail)
        return result

    def _drop_tail(self, run_id: str, tail: LocalTail) -> None:
        if self._tails.get(run_id) is tail:
            del self._tails[run_id]

    async def _load_scripts(self) -> None:
        for script in (_APPEND_MANY, _FINISH):
            await self._call(lambda script=script: self._redis.script_load(script))  # type: ignore[misc]

    # -- readers -----------------------------------------------------------------------------------

    async def info(self, run_id: str) -> RunInfo | None:
        raw = await self._call(lambda: self._redis.hgetall(self._run_key(run_id)))
        if not raw or "status" not in raw:
            return None
        return RunInfo(
            run_id=run_id,
            status=RunStatus(raw["status"]),
            owner=raw.get("owner", ""),
            created_at=float(raw.get("created_at") or 0),
            finished_at=float(raw["finished_at"]) if raw.get("finished_at") else None,
            error=raw.get("error") or None,
            metadata=json.loads(raw.get("metadata") or "{}"),
        )

    async def check_after(self, run_id: str, after: str) -> int:
        if _STREAM_ID.fullmatch(after) is None:
            raise bad_event_id(after)
        tail = self._tails.get(run_id)
        seq = None if tail is None else tail.seq_of(after)
        if seq is not None:
            return seq
        found = await self._call(lambda: self._redis.xrange(self._log_key(run_id), after, after, count=1))
        if not found:
            raise expired_event_id(run_id, after)
        return int(found[0][1].get("n", 0))

    async def read(self, run_id: str, after: str | None, *, block: float, count: int = 256) -> list[LogEntry]:
        if after is not None and _STREAM_ID.fullmatch(after) is None:
            raise bad_event_id(after)
        tail = self._tails.get(run_id)  # this worker drives the run
        if tail is None and self._follower is not None:  # another does: the worker's shared XREAD
            tail = self._follower.tail(run_id, after)
        if tail is not None:  # no round trip of its own while the reader is in the tail's window
            entries = await tail.read(after, block=block, count=count)
            if entries or (entries is not None and tail.done):
                return entries
            # [] (quiet for `block` s: a reaper elsewhere may have ended the run without this worker
            # knowing) or None (the reader is not in the window, or the tail broke): one look at
            # Redis itself, without waiting again.
            block = 0
        key = self._log_key(run_id)
        block_ms = max(int(block * 1000), 1) if block > 0 else None  # BLOCK 0 would wait forever
        reply = await self._xread({key: after or "0-0"}, count=count, block=block_ms)
        if not reply:
            return []
        return [
            LogEntry(entry_id, fields.get("t", ""), fields.get("d", "{}"), int(fields.get("n", 0)))
            for entry_id, fields in reply[0][1]
        ]

    async def _xread(self, streams: dict[str, Any], *, count: int, block: int | None) -> Any:
        return await self._call(lambda: self._redis.xread(streams, count=count, block=block))

    async def reap(self, info: RunInfo) -> bool:
        """End `info`'s run if its owner's lease is gone; True if this call wrote the ending."""
        if info.status is not RunStatus.RUNNING:
            return False
        alive = await self._call(lambda: self._redis.exists(self._lease_key(info.owner)))
        if alive:
            return False
        message = f"the worker running this run stopped responding (no heartbeat for {self.lease:g} s)"
        type_, data = terminal_error("WorkerLostError", message)
        ended = await self._end(
            info.run_id, info.owner, "reap", type_=type_, data=data, status=RunStatus.FAILED, error=message,
            active=self._active_key(info.metadata),
        )
        if ended is not None:
            log.warning("run %s: worker %s lost; ended as failed", info.run_id, info.owner)
        return ended is not None

    async def active_run(self, thread_id: str) -> str | None:
        value = await self._call(lambda: self._redis.get(self._active_key({"thread_id": thread_id})))
        return None if value is None else str(value)

    # -- cancel ------------------------------------------------------------------------------------

    async def request_cancel(self, run_id: str) -> bool:
        info = await self.info(run_id)
        if info is not None and info.status is RunStatus.QUEUED:  # no worker has it: end it here
            message = "the run was cancelled"
            type_, data = terminal_error("RunCancelledError", message)
            ended = await self._end(run_id, "", "queued", type_=type_, data=data, status=RunStatus.CANCELLED,
                                    error=message, active=self._active_key(info.metadata))
            return ended is not None or await self.request_cancel(run_id)  # claimed meanwhile: ask its worker
        if info is None or info.status is not RunStatus.RUNNING:
            return False
        ctl = self._ctl_key(info.owner)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xadd(ctl, {"cancel": run_id}, maxlen=_CTL_MAXLEN, approximate=True)
            pipe.pexpire(ctl, max(int(self.lease * 3000), 1000))
            await self._call(pipe.execute)
        return True

    async def cancel_requests(self) -> AsyncIterator[str]:
        """This worker's control loop: heartbeat every lease/3 s, yield run ids asked to cancel.

        A Redis outage is logged and retried (the lease lapses meanwhile, which is right: this
        worker cannot write its runs either).
        """
        interval = self.lease / 3
        ctl = self._ctl_key(self.worker_id)
        while not self._closed:
            try:
                await self._beat()
                reply = await self._call(lambda: self._redis.xread(
                    {ctl: self._ctl_last}, count=100, block=max(int(interval * 1000), 1)
                ))
            except RunLogUnavailableError as exc:
                log.warning("run log heartbeat failed: %s", exc)
                await asyncio.sleep(interval)
                continue
            for _key, entries in reply or []:
                for entry_id, fields in entries:
                    self._ctl_last = entry_id
                    if fields.get("cancel") in self._owned:
                        yield fields["cancel"]


    # -- the shared run queue (RunQueue) ----------------------------------------------------------

    async def enqueue(self, run_id: str, metadata: dict[str, str], job: str) -> None:
        """Record run `run_id` as QUEUED and queue `job` for any worker; `RunLimitError` when full."""
        metadata = check_metadata(metadata)
        active = self._active_key(metadata)
        created = await self._call(lambda: self._queued(
            keys=[self._run_key(run_id), ""], args=[repr(now()), json.dumps(metadata), self._retention_ms, run_id],
        ))
        if not created:
            raise RunLogError(f"run {run_id!r} already exists")
        pushed = await self._call(lambda: self._push(keys=[self._queue_key, self._run_key(run_id)],
                                                     args=[self.max_queue, run_id, job]))
        if pushed is None:  # full: the record goes too (a run that never was), then the caller gets 429
            await self._call(lambda: self._redis.delete(self._run_key(run_id)))
            raise RunLimitError(f"{self.max_queue} runs are already waiting for a worker; try again later")
        if active:  # the thread's run in progress (AI SDK reconnect) once it is really queued
            await self._call(lambda: self._redis.set(active, run_id, px=self._retention_ms))

    async def take(self, count: int, *, block: float) -> list[QueuedRun]:
        """Up to `count` queued jobs for this worker; first those a dead worker took and never
        acked (idle for 2 leases: taken, then killed before its claim), then new ones."""
        loop_now = asyncio.get_running_loop().time()
        if loop_now >= self._next_autoclaim:
            self._next_autoclaim = loop_now + self.lease
            reply = await self._call(lambda: self._redis.xautoclaim(
                self._queue_key, _GROUP, self.worker_id, min_idle_time=max(int(self.lease * 2000), 1),
                start_id="0-0", count=count,
            ))
            stolen = [QueuedRun(eid, f["run"], f["job"]) for eid, f in reply[1] if f]
            if stolen:
                return stolen
        if loop_now >= self._next_prune:
            self._next_prune = loop_now + _PRUNE_EVERY
            await self.prune_consumers(idle=max(_PRUNE_EVERY, self.lease * 10))
        reply = await self._call(lambda: self._redis.xreadgroup(
            _GROUP, self.worker_id, {self._queue_key: ">"}, count=count, block=max(int(block * 1000), 1),
        ))
        return [QueuedRun(eid, f["run"], f["job"]) for _key, entries in reply or [] for eid, f in entries if f]

    async def prune_consumers(self, *, idle: float) -> int:
        """Drop queue consumers idle for `idle` s that hold no job (dead workers'); how many."""
        return int(await self._call(lambda: self._prune(
            keys=[self._queue_key], args=[_GROUP, self.worker_id, max(int(idle * 1000), 1)],
        )))

    async def claim(self, run_id: str) -> bool:
        claimed = await self._call(lambda: self._claim(
            keys=[self._run_key(run_id)], args=[self.worker_id, self._retention_ms],
        ))
        if claimed:
            self._owned.add(run_id)
            self._seqs[run_id] = 0  # a queued run has no entries yet
            if self._local_events:
                self._tails[run_id] = LocalTail(min(self._local_events, self._max_events))
            info = await self.info(run_id)
            self._active_keys[run_id] = self._active_key(info.metadata if info is not None else {})
        return bool(claimed)

    async def ack(self, entry: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xack(self._queue_key, _GROUP, entry)
            pipe.xdel(self._queue_key, entry)  # so the queue's length is what waits (the 429 bound)
            await self._call(pipe.execute)

    async def requeue(self, job: QueuedRun) -> None:
        """Hand a job this worker took back to the queue (it filled up while waiting for jobs)."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xadd(self._queue_key, {"run": job.run_id, "job": job.job})
            pipe.xack(self._queue_key, _GROUP, job.entry)
            pipe.xdel(self._queue_key, job.entry)
            await self._call(pipe.execute)
