"""The simulated robot's shelf: packs by Id, capacity, Pack Ids, and which packs criteria pick."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from simulators.wwks2.settings import ShelfPack
from wwks2.messages import OutputCriteria, OutputPack, StockArticle, StockCriteria, StockPack


class ShelfFull(Exception):
    """No room for another pack."""


class Shelf:
    """The packs the robot holds, in stock-in order."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.packs: dict[int, ShelfPack] = {}
        self._issued: set[int] = set()
        self._counter = 0

    def __len__(self) -> int:
        return len(self.packs)

    def new_id(self, component: int, at: datetime) -> int:
        """A 16-digit Pack Id never issued before: the component (2 digits), the time
        YYMMDDhhmmss, a 2-digit counter (bumped until unused; when a second's hundred are all
        issued, as a fast robot does, the next second's)."""
        while True:
            for _ in range(100):
                self._counter = (self._counter + 1) % 100
                pack_id = int(f"{component % 100:02d}{at:%y%m%d%H%M%S}{self._counter:02d}")
                if pack_id not in self._issued:
                    self._issued.add(pack_id)
                    return pack_id
            at += timedelta(seconds=1)

    def store(self, pack: ShelfPack) -> None:
        if len(self.packs) >= self.capacity:
            raise ShelfFull(f"the shelf is full ({self.capacity} packs)")
        self._issued.add(pack.id)
        self.packs[pack.id] = pack

    def take(self, criteria: OutputCriteria) -> ShelfPack | None:
        """The first pack (stock-in order) matching `criteria`, taken off the shelf."""
        for pack in self.packs.values():
            if _fits_output(pack, criteria):
                return self.packs.pop(pack.id)
        return None

    def select(self, criteria: tuple[StockCriteria, ...]) -> list[ShelfPack]:
        """The packs matching every attribute of any one criteria (all when none given)."""
        return [
            p for p in self.packs.values() if not criteria or any(_fits(p, c) for c in criteria)
        ]

    def quantities(self, articles: set[str]) -> tuple[StockArticle, ...]:
        """Each of `articles` with the number of its packs on the shelf (0 included)."""
        counts = Counter(p.article_id for p in self.packs.values())
        return tuple(StockArticle(id=a, quantity=counts[a]) for a in sorted(articles))


def stock_articles(packs: list[ShelfPack], *, include_packs: bool) -> tuple[StockArticle, ...]:
    """`packs` grouped by article, with their quantity and (if asked) the packs."""
    by_article: dict[str, list[ShelfPack]] = {}
    for pack in packs:
        by_article.setdefault(pack.article_id, []).append(pack)
    return tuple(
        StockArticle(
            id=article,
            quantity=len(group),
            packs=tuple(stock_pack(p) for p in group) if include_packs else (),
        )
        for article, group in by_article.items()
    )


def stock_pack(pack: ShelfPack) -> StockPack:
    return StockPack(
        id=pack.id,
        delivery_number=pack.delivery_number,
        batch_number=pack.batch,
        external_id=pack.serial,
        serial_number=pack.serial,
        expiry_date=pack.expiry,
        scan_code=pack.scan_code,
    )


def output_pack(pack: ShelfPack, destination: int) -> OutputPack:
    return OutputPack(
        id=pack.id,
        output_destination=destination,
        delivery_number=pack.delivery_number,
        batch_number=pack.batch,
        external_id=pack.serial,
        serial_number=pack.serial,
        expiry_date=pack.expiry,
        scan_code=pack.scan_code,
    )


def _fits(pack: ShelfPack, criteria: StockCriteria) -> bool:
    wanted = (
        (criteria.article_id, pack.article_id),
        (criteria.batch_number, pack.batch),
        (criteria.external_id, pack.serial),
        (criteria.serial_number, pack.serial),
        (criteria.stock_location_id, None),
        (criteria.machine_location, None),
    )
    return all(want is None or want == have for want, have in wanted)


def _fits_output(pack: ShelfPack, criteria: OutputCriteria) -> bool:
    if criteria.pack_id is not None and criteria.pack_id != pack.id:
        return False
    if criteria.minimum_expiry_date is not None and (
        pack.expiry is None or pack.expiry < criteria.minimum_expiry_date
    ):
        return False
    return _fits(
        pack,
        StockCriteria(
            article_id=criteria.article_id,
            batch_number=criteria.batch_number,
            external_id=criteria.external_id,
            serial_number=criteria.serial_number,
            stock_location_id=criteria.stock_location_id,
            machine_location=criteria.machine_location,
        ),
    )


def select_articles(
    criteria: tuple[OutputCriteria, ...], packs: list[ShelfPack]
) -> list[tuple[str | None, list[ShelfPack]]]:
    """The packs that left, by article, with each article asked for and not found (no packs),
    as an Incomplete output reports a shortage."""
    by_article: dict[str | None, list[ShelfPack]] = {}
    for pack in packs:
        by_article.setdefault(pack.article_id, []).append(pack)
    for each in criteria:
        if each.article_id is not None:
            by_article.setdefault(each.article_id, [])
    return list(by_article.items())
