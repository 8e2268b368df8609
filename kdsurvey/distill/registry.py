"""A name -> factory registry with did-you-mean errors, shared by models, methods and data sets."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Generic, TypeVar

from kdsurvey.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries registered by decorator; `get` names the unknown key and the nearest ones."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(entry: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = entry
            return entry

        return add

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        near = difflib.get_close_matches(str(name), self._entries, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        return f"unknown {self.kind} {name!r}{hint} (known: {', '.join(self.names())})"

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries
