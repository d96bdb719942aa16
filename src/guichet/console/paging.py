"""Pages of long lists: the page asked for in the query string (forgiving: a page number that
is not one is the first page), and the links of the DSFR pagination component."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

# Far beyond any real list, and small enough that page × size stays a plain bigint offset.
MAX_PAGE = 1_000_000


def page_number(value: str | None) -> int:
    """`?page=` as a number from 1 to MAX_PAGE; anything else is page 1."""
    if value is None or not value.isdigit():
        return 1
    return min(max(int(value), 1), MAX_PAGE)


@dataclass(frozen=True)
class Link:
    page: int
    href: str
    current: bool = False


@dataclass(frozen=True)
class Pages:
    """Page `number` of `total` items shown `size` at a time."""

    number: int
    size: int
    total: int
    base: str  # the page's path
    params: tuple[tuple[str, str], ...] = ()  # the other query parameters (filters), kept

    @property
    def count(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def current(self) -> int:
        """The page shown: a number past the end shows the last page."""
        return min(self.number, self.count)

    @property
    def offset(self) -> int:
        return (self.current - 1) * self.size

    @property
    def first_item(self) -> int:
        return 0 if self.total == 0 else self.offset + 1

    @property
    def last_item(self) -> int:
        return min(self.offset + self.size, self.total)

    def href(self, page: int) -> str:
        query = [*self.params, *([("page", str(page))] if page > 1 else [])]
        return self.base + ("?" + urlencode(query) if query else "")

    def links(self) -> list[Link | None]:
        """The numbered links around the current page; None stands for an ellipsis."""
        wanted = {1, self.count, self.current - 1, self.current, self.current + 1}
        shown = sorted(page for page in wanted if 1 <= page <= self.count)
        out: list[Link | None] = []
        for index, page in enumerate(shown):
            if index and page - shown[index - 1] > 1:
                out.append(None)
            out.append(Link(page, self.href(page), page == self.current))
        return out
