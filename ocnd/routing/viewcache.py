"""Recently used routing views (sender/receiver platform, endpoint, rules) kept in memory.

Every routed request needs the sending platform (by Token C), the receiving
platform (by party), its endpoint for the module and the receiver's OcnRules.
Reading them costs a hop to the store's thread and a few queries; the answer
only changes when something is written.  :class:`ViewCache` keeps the views
of recent requests and drops all of them as soon as the store's
``generation`` moves, i.e. after any write transaction ended.  A view read
while a write was pending is not kept (its generation no longer matches), so
the cache never serves anything older than what a fresh read would return.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Hashable


class ViewCache:
    def __init__(self, store, max_entries: int = 4096) -> None:
        self.store = store
        self.max_entries = max_entries
        self._views: OrderedDict[Hashable, Any] = OrderedDict()
        self._generation = store.generation
        self.hits = 0
        self.misses = 0

    def _current(self) -> None:
        generation = self.store.generation
        if generation != self._generation:
            self._views.clear()
            self._generation = generation

    def peek(self, key: Hashable) -> Any | None:
        self._current()
        view = self._views.get(key)
        if view is not None:
            self._views.move_to_end(key)
        return view

    async def get(self, key: Hashable, read: Callable[..., Any], *args: Any,
                  keep: Callable[[Any], bool] = lambda view: True) -> Any:
        """The view for ``key``: cached, or ``store.read(read, *args)`` (kept when ``keep(view)``)."""
        view = self.peek(key)
        if view is not None:
            self.hits += 1
            return view
        self.misses += 1
        generation = self.store.generation
        view = await self.store.read(read, *args)
        if keep(view) and self.store.generation == generation:
            self._current()
            self._views[key] = view
            if len(self._views) > self.max_entries:
                self._views.popitem(last=False)
        return view

    def clear(self) -> None:
        self._views.clear()
