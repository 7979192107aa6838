"""What a save must write: the diff between a `Thread` and what this store last wrote of it.

Each store remembers, in `Thread._store_state` (a dict keyed by the store's token, so one thread
object can be saved to several stores), the message objects it last saw for that thread and a
snapshot of each one's field values. A save then writes:

* every message whose id this store has not written for this thread (appended or inserted),
* every already-written message whose fields changed since (edited in place: content, metrics,
  the interrupted flag...), compared against the snapshot (see the edit window below),
* the thread row: always its `updated_at`; title and attributes only when they changed, so a
  writer holding a stale copy does not overwrite another writer's title.

Messages removed from `thread.messages` are *not* deleted from the store (append-only: a save
never deletes rows, its own or other writers'); `delete()` removes a whole thread.

Cost, and the edit window: when the list still starts with the objects last saved (the normal
append case), the check is one pointer-identity pass over the list plus one C-level comparison of
the snapshots of the last `window` messages (`ThreadStore(edit_window=256)` by default). Comparing
every message of a 10,000-message thread on every save would cost more than the write itself
(each message's fields must be fetched from memory: ~1 µs a message once the thread no longer fits
in the CPU cache), and the edits that happen in practice (the agent updating the message it just
produced, a user reacting to a recent message) are recent. An in-place edit of a message older
than the window is written by `save(thread, full=True)`, which compares every message; when the
list was restructured (a message removed, replaced or reordered) every message is compared anyway.
Only new and changed messages are serialized and written.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

from ..exceptions import StorageError
from ..messages import Message, Thread
from ._codec import encode_message, encode_thread

_dict_of = operator.attrgetter("__dict__")


def _copy(value: Any) -> Any:
    """Deep copy of a JSON-like value (dicts and lists copied, everything else shared)."""
    kind = type(value)
    if kind is dict:
        return {k: _copy(v) for k, v in value.items()}
    if kind is list:
        return [_copy(v) for v in value]
    return value


def snapshot(message: Message) -> dict[str, Any]:
    """A value copy of the message's fields, comparable with `message.__dict__` by `==`."""
    return {k: _copy(v) for k, v in message.__dict__.items()}


def _meta(thread: Thread) -> tuple[Any, ...]:
    return (thread.title, _copy(thread.attributes))


@dataclass(slots=True)
class Saved:
    """What one store last wrote (or loaded) for one thread object."""

    thread_id: str
    refs: list[Message]
    snaps: list[dict[str, Any]]
    meta: tuple[Any, ...]
    updated_at: Any
    # id -> position in the list, for the duplicate-id check. Shared with (and extended by) the
    # states that follow by appending, so that check costs O(new messages), not O(thread); an
    # entry is therefore only a hint, verified against the list before it is believed.
    index: dict[str, int]


@dataclass(slots=True)
class Plan:
    """The writes one save must do. `rows` are the messages to insert-or-update, in thread order."""

    thread_row: dict[str, Any]
    write_meta: bool
    rows: list[dict[str, Any]]
    next_state: Saved
    messages: list[Message]  # the messages `rows` encode (their attachments may need storing first)

    def reencode(self) -> None:
        """Encode the rows again (after attachments were given their storage paths)."""
        self.rows = [encode_message(m) for m in self.messages]


class StoreState(dict[str, Saved]):
    """`Thread._store_state`: store token -> what that store last wrote.

    Compares equal to anything: it is bookkeeping, not part of the thread's value, and pydantic
    includes private attributes in `==`, so without this a saved thread would no longer equal
    its own JSON round-trip (`Thread.model_validate_json(t.model_dump_json()) == t`).
    """

    def __eq__(self, other: object) -> bool:
        return True

    def __ne__(self, other: object) -> bool:
        return False

    __hash__ = None


def get_saved(thread: Thread, token: str) -> Saved | None:
    state = thread._store_state
    saved = state.get(token) if isinstance(state, dict) else None
    if saved is None or saved.thread_id != thread.id:
        return None
    return saved


def remember(thread: Thread, token: str, saved: Saved) -> None:
    """Record `saved` for this store; a fresh dict so copies of the thread never share updates."""
    state = thread._store_state
    new_state = StoreState(state) if isinstance(state, dict) else StoreState()
    new_state[token] = saved
    thread._store_state = new_state


def loaded_state(thread: Thread) -> Saved:
    msgs = list(thread.messages)
    return Saved(thread.id, msgs, [snapshot(m) for m in msgs], _meta(thread), thread.updated_at, _index(thread, msgs))


def plan_save(thread: Thread, token: str, window: int | None = None) -> Plan | None:
    """The plan for saving `thread`, or None when nothing changed since this store's last save.

    `window`: compare only the last `window` already-saved messages for in-place edits (None:
    all of them).
    """
    saved = get_saved(thread, token)
    msgs = list(thread.messages)
    if saved is None:
        _check_messages(msgs)
        snaps = [snapshot(m) for m in msgs]
        state = Saved(thread.id, msgs, snaps, _meta(thread), thread.updated_at, _index(thread, msgs))
        return _plan(thread, True, msgs, state)

    k = len(saved.refs)
    index = saved.index
    if len(msgs) >= k and all(map(operator.is_, msgs, saved.refs)):  # map stops after k
        _check_messages(msgs[k:])  # the prefix holds the very objects checked before
        _check_new_ids(thread, msgs, index, k)
        start = 0 if window is None else max(0, k - window)
        changed, snaps = _changed_prefix(msgs, saved.snaps, start, k)
        rows = changed + msgs[k:]
        snaps = snaps + [snapshot(m) for m in msgs[k:]]
    else:
        _check_messages(msgs)
        index = _index(thread, msgs)
        rows, snaps = _changed_any(msgs, saved)
    meta = _meta(thread)
    write_meta = meta != saved.meta
    if not rows and not write_meta and thread.updated_at == saved.updated_at:
        if len(msgs) != k or snaps is not saved.snaps:
            # Structure changed (e.g. a message removed) but nothing to write: just re-sync.
            remember(thread, token, Saved(thread.id, msgs, snaps, meta, thread.updated_at, index))
        return None
    return _plan(thread, write_meta, rows, Saved(thread.id, msgs, snaps, meta, thread.updated_at, index))


def _plan(thread: Thread, write_meta: bool, rows: list[Message], state: Saved) -> Plan:
    # Encoded now, synchronously, so what is written is exactly what the snapshots describe even
    # if the caller edits the messages while the write is in flight.
    return Plan(encode_thread(thread), write_meta, [encode_message(m) for m in rows], state, rows)


def _check_messages(msgs: list[Message]) -> None:
    for m in msgs:
        if not isinstance(m, Message):
            raise TypeError(f"thread.messages must hold Message objects, got {type(m).__name__}")


def _changed_prefix(
    msgs: list[Message], snaps: list[dict[str, Any]], start: int, stop: int
) -> tuple[list[Message], list[dict[str, Any]]]:
    # Fast path: one C-level comparison of every field of every message in [start, stop).
    if list(map(_dict_of, msgs[start:stop])) == snaps[start:stop]:
        return [], snaps
    new_snaps = list(snaps)
    changed = []
    for i in range(start, stop):
        m = msgs[i]
        if m.__dict__ != snaps[i]:
            changed.append(m)
            new_snaps[i] = snapshot(m)
    return changed, new_snaps


def _changed_any(msgs: list[Message], saved: Saved) -> tuple[list[Message], list[dict[str, Any]]]:
    # Slow path (messages removed, reordered or replaced): match by id.
    by_id = {m.id: s for m, s in zip(saved.refs, saved.snaps, strict=True)}
    rows, snaps = [], []
    for m in msgs:
        old = by_id.get(m.id)
        if old is not None and m.__dict__ == old:
            snaps.append(old)
        else:
            rows.append(m)
            snaps.append(snapshot(m))
    return rows, snaps


def _duplicate(thread: Thread, message_id: str) -> StorageError:
    # Refused rather than stored as one row: the thread would silently lose one of the two.
    return StorageError(
        f"thread {thread.id!r} holds two messages with id {message_id!r}; message ids must be unique "
        "within a thread (nothing was saved)"
    )


def _index(thread: Thread, msgs: list[Message]) -> dict[str, int]:
    """id -> position of every message; StorageError if two messages share an id."""
    index = {m.id: i for i, m in enumerate(msgs)}
    if len(index) != len(msgs):
        seen: set[str] = set()
        for m in msgs:
            if m.id in seen:
                raise _duplicate(thread, m.id)
            seen.add(m.id)
    return index


def _check_new_ids(thread: Thread, msgs: list[Message], index: dict[str, int], k: int) -> None:
    """Refuse a message appended after position `k` whose id another message of `msgs` has.

    Adds the new ids to the shared `index`. A stale entry (left by a failed save, or by another
    copy of the thread sharing this state) is not trusted: the position it names is re-checked,
    and if it does not hold that id the whole list is checked the slow way.
    """
    for p in range(k, len(msgs)):
        mid = msgs[p].id
        pos = index.get(mid)
        if pos is not None and pos != p:
            if pos < len(msgs) and msgs[pos].id == mid:
                raise _duplicate(thread, mid)
            _index(thread, msgs)
        index[mid] = p
