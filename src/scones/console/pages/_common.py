"""What pages share: the app's database, store and settings, paging and query parsing."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request

from scones.config import Settings
from scones.console.db import Database
from scones.storage import Store

PER_PAGE = 50


def db(request: Request) -> Database:
    database: Database = request.app.state.db
    return database


def settings(request: Request) -> Settings:
    resolved: Settings = request.app.state.settings
    return resolved


def store(request: Request) -> Store:
    resolved: Store = request.app.state.store
    return resolved


def int_param(request: Request, name: str, default: int, low: int = 1, high: int = 1_000_000) -> int:
    """A bounded integer query parameter; junk falls back to the default."""
    raw = request.query_params.get(name, "")
    try:
        value = int(raw)
    except ValueError:
        return default
    return max(low, min(high, value))


@dataclass(frozen=True)
class Paging:
    """Page `page` (1-based) of `total` items, `per_page` a page; links keep the filters."""

    page: int
    per_page: int
    total: int
    params: tuple[tuple[str, str], ...] = ()
    more: bool = False  # the total was capped: there are more than `total` items

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def first(self) -> int:
        return 0 if self.total == 0 else self.offset + 1

    @property
    def last(self) -> int:
        return self.offset + self.per_page if self.more else min(self.total, self.offset + self.per_page)

    def url(self, page: int) -> str:
        return "?" + urlencode([*self.params, ("page", str(page))])

    @property
    def prev_url(self) -> str | None:
        return self.url(self.page - 1) if self.page > 1 else None

    @property
    def next_url(self) -> str | None:
        return self.url(self.page + 1) if self.page < self.pages or self.more else None


def paging(
    request: Request, total: int, per_page: int = PER_PAGE, keep: tuple[str, ...] = (), cap: int | None = None
) -> Paging:
    """Page `?page=` of `total` items; a `total` past `cap` means 'at least cap, maybe more'."""
    params = tuple((k, v) for k in keep if (v := request.query_params.get(k, "")))
    more = cap is not None and total > cap
    total = min(total, cap) if cap is not None else total
    pages = max(1, -(-total // per_page))
    return Paging(int_param(request, "page", 1, 1, 1_000_000 if more else pages), per_page, total, params, more)
