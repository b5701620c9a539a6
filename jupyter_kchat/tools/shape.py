"""Fitting tool results into the model's budget (``ctx.budget`` characters) without blind cuts.

A result that does not fit is never cut at an arbitrary character. It keeps, in this order:
the summary (counts per namespace and status), every item that needs attention with its reason
(grouped by reason, with counts, when even those do not fit as rows), a representative sample
of the rest, and a final line telling the model how to narrow the request. Text is compact,
aligned columns in the style of ``kubectl get`` (JSON costs far more tokens); the structured
``data`` rows stay complete whatever the text leaves out.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain, compress, islice, pairwise
from operator import ne
from typing import Generic, TypeVar

T = TypeVar("T")

Row = Sequence[str]


def human_age(seconds: float) -> str:
    """A duration the way kubectl prints ages: ``45s``, ``12m``, ``5h``, ``3d``, ``2y``."""
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 48:
        return f"{hours}h{minutes % 60}m" if hours < 8 and minutes % 60 else f"{hours}h"
    days = hours // 24
    if days < 365 * 2:
        return f"{days}d"
    return f"{days // 365}y"


def age_of(when: datetime | None, now: float | None = None) -> str:
    """The age of a timestamp ("" when unknown)."""
    if when is None:
        return ""
    return human_age((time.time() if now is None else now) - when.timestamp())


def parse_time(stamp: str | None) -> float | None:
    """An RFC 3339 timestamp string as seconds since the epoch (None if absent or unreadable)."""
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def ago(stamp: str | None, now: float | None = None) -> str:
    """``3m ago`` for an RFC 3339 timestamp string ("" when unknown)."""
    when = parse_time(stamp)
    if when is None:
        return ""
    return f"{human_age((time.time() if now is None else now) - when)} ago"


def plural(count: int, word: str, words: str | None = None) -> str:
    return f"{count} {word if count == 1 else (words or word + 's')}"


def clip(text: str, limit: int) -> str:
    """One line of at most ``limit`` characters (whitespace collapsed, an ellipsis if cut)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def counts(counter: Mapping[str, int], limit: int | None = None) -> str:
    """``Running 9950, Pending 26, Failed 1`` (largest first; ``limit`` keeps the top ones)."""
    ordered = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ordered if limit is None else ordered[:limit]
    text = ", ".join(f"{key} {value}" for key, value in shown)
    if limit is not None and len(ordered) > limit:
        rest = sum(value for _, value in ordered[limit:])
        text += f", {len(ordered) - limit} more with {rest}"
    return text


def table(
    columns: Sequence[str], rows: Iterable[Row], notes: Mapping[int, str] | None = None
) -> list[str]:
    """Rows as aligned columns with a two-space gutter (the last column is not padded).

    ``notes`` inserts a free-text line before the row with that index (sections of one table).
    """
    materialized = [list(columns), *([str(c) for c in row] for row in rows)]
    widths = [0] * len(columns)
    for row in materialized:
        for i, cell in enumerate(row[:-1]):
            if len(cell) > widths[i]:
                widths[i] = len(cell)
    lines: list[str] = []
    for index, row in enumerate(materialized):
        if notes and index - 1 in notes:
            lines.append(notes[index - 1])
        head = "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:-1]))
        lines.append(f"{head}  {row[-1]}".rstrip() if len(row) > 1 else row[0])
    return lines


def table_size(
    columns: Sequence[str], rows: Sequence[Row], notes: Mapping[int, str] | None = None
) -> int:
    """``_size(table(columns, rows, notes))`` from the cells' lengths, column by column,
    without building the lines: fitting a budget measures many candidate tables, renders one.
    Rows of each length are measured together (healthy rows lack the problems' REASON)."""
    total = sum(len(notes[i]) + 1 for i in notes if -1 <= i < len(rows)) if notes else 0
    by_length: dict[int, list[Row]] = {len(columns): [tuple(columns)]}
    for row in rows:
        by_length.setdefault(len(row), []).append(row)
    if set(map(type, chain.from_iterable(rows))) - {str} or min(by_length) < 2:
        return total + _size(table(columns, rows))
    widths = [0] * (len(columns) - 1)
    groups = []
    for length, members in by_length.items():
        by_column = list(zip(*members))
        for i, column in enumerate(by_column[: length - 1]):
            widths[i] = max(widths[i], max(map(len, column)))
        groups.append((length, len(members), by_column[length - 1]))
    lines = 0
    for length, many, last in groups:
        if not all(last) or sum(map(len, last)) != sum(map(len, map(str.rstrip, last))):
            return total + _size(table(columns, rows))
        lines += many * (sum(widths[: length - 1]) + 2 * (length - 1) + 1) + sum(map(len, last))
    return total + lines


class Sampler(Generic[T]):
    """Picks ``n`` items that represent a list: round-robin over groups, evenly spaced in each.

    Groups are computed once, so trying several sizes while fitting a budget stays cheap; the
    chosen items keep their original order so tables stay sorted.
    """

    def __init__(self, items: Sequence[T], group: Callable[[T], str] | None = None) -> None:
        self.items = items
        self.groups: list[Sequence[int]] = [range(len(items))]
        if group is not None:
            self.groups = sorted(_grouped_indices(list(map(group, items))), key=_larger_first)

    def take(self, n: int) -> list[T]:
        items = self.items
        if n <= 0 or not items:
            return []
        if n >= len(items):
            return list(items)
        quota = [0] * len(self.groups)
        left = n
        while left > 0:
            for g, members in enumerate(self.groups):
                if left == 0:
                    break
                if quota[g] < len(members):
                    quota[g] += 1
                    left -= 1
        chosen: list[int] = []
        for g, members in enumerate(self.groups):
            k = quota[g]
            if k:
                step = len(members) / k
                chosen.extend(members[int(i * step)] for i in range(k))
        chosen.sort()
        return [items[i] for i in chosen]


def _grouped_indices(keys: list[str]) -> list[Sequence[int]]:
    """The indices of each distinct key, in the order the keys first appear: ranges when
    every key's items are together (a list sorted by namespace), found without a loop."""
    starts = [0, *compress(range(1, len(keys)), map(ne, keys, islice(keys, 1, None)))]
    if len(starts) == len(set(keys)):
        return [range(a, b) for a, b in pairwise([*starts, len(keys)])] if keys else []
    by_group: dict[str, list[int]] = {}
    for index, key in enumerate(keys):
        by_group.setdefault(key, []).append(index)
    return list(by_group.values())


def _larger_first(members: Sequence[int]) -> tuple[int, int]:
    return -len(members), members[0]


def _size(lines: Sequence[str]) -> int:
    return sum(len(line) + 1 for line in lines)


@dataclass
class Listing:
    """A list result to fit: a head, rows needing attention, the healthy rest, and advice.

    ``problem_keys`` / ``problem_groups`` are a compact id (``ns/name``) and the reason of each
    problem row, used when rows do not fit; ``rest_group`` spreads the sample (by namespace).
    """

    noun: str
    head: list[str]
    columns: Sequence[str]
    problems: Sequence[Row] = field(default_factory=list)
    problem_keys: Sequence[str] = field(default_factory=list)
    problem_groups: Sequence[str] = field(default_factory=list)
    rest: Sequence[Row] = field(default_factory=list)
    rest_group: Callable[[Row], str] | None = None
    narrow: str = ""
    problem_label: str = "needing attention"
    rest_label: str = "others"


def fit_listing(listing: Listing, budget: int) -> tuple[str, bool]:
    """The listing as text within ``budget`` characters, and whether anything was left out.

    In order of preference: every row; every problem row and as big a sample of the rest as
    fits; every problem named, grouped by reason, and a sample of the rest; problems grouped
    by reason with counts and as many names as fit (with a note saying some are not named).
    Whatever is left out, the text ends with the listing's advice on how to narrow down.
    """
    head = listing.head
    problems = listing.problems
    if (len(problems) + len(listing.rest)) * 12 <= budget:
        full = head + table(listing.columns, [*problems, *listing.rest])
        if _size(full) <= budget:
            return "\n".join(full), False
    room = budget - _size(head)
    if not problems:
        return "\n".join(head + _with_sample(listing, [], room, 0, as_rows=True)), True
    noun = listing.noun[:-1] if listing.noun.endswith("s") else listing.noun
    title = f"{plural(len(problems), noun, listing.noun)} {listing.problem_label}:"
    problem_rows = [title, *table(listing.columns, problems)]
    if _size(problem_rows) + _size(_footer(listing, len(problems), 0)) <= room:
        rows = _with_sample(listing, [title], room, len(problems), as_rows=True)
        return "\n".join(head + rows), True
    return "\n".join(head + _grouped(listing, room)), True


def _footer(listing: Listing, problems_shown: int, rest_shown: int) -> list[str]:
    """What was left out, and how to narrow down (always, since something was).

    In parentheses, so a reader that parses the table (the demo model) takes them as notes.
    """
    parts = []
    if len(listing.problems) > problems_shown:
        left = len(listing.problems) - problems_shown
        parts.append(f"{left} {listing.noun} {listing.problem_label}")
    if len(listing.rest) > rest_shown:
        parts.append(f"{len(listing.rest) - rest_shown} {listing.rest_label}")
    lines = []
    if parts:
        lines.append(f"(Not shown: {' and '.join(parts)}; the data rows are complete.)")
    if listing.narrow:
        lines.append(f"({listing.narrow})")
    return lines


def _largest(
    render: Callable[[int], list[str]],
    most: int,
    room: int,
    measure: Callable[[int], int] | None = None,
) -> list[str] | None:
    """The rendering of the largest ``k <= most`` that fits ``room``; ``measure(k)``, when
    given, is ``_size(render(k))`` computed without rendering.

    A search between a ``k`` that fits and one that does not, guessing the next ``k`` from
    their sizes (which grow about linearly) and halving the interval instead whenever a guess
    did not halve it: a few measures instead of a binary search's ten.
    """
    size = measure or (lambda k: _size(render(k)))
    fits, size_fits = 0, size(0)
    if size_fits > room:
        return None
    over, size_over = most + 1, 0
    guess = False
    while over - fits > 1:
        width = over - fits
        k = (fits + over) // 2
        if guess and size_over > size_fits:
            k = fits + (room - size_fits) * width // (size_over - size_fits)
            k = min(max(k, fits + 1), over - 1)
        measured = size(k)
        if measured <= room:
            fits, size_fits = k, measured
        else:
            over, size_over = k, measured
        guess = over - fits <= width // 2 or not guess
    return render(fits)


def _with_sample(
    listing: Listing, before: list[str], room: int, problems_shown: int, *, as_rows: bool
) -> list[str]:
    """``before`` (a title, or the grouped problems) plus as big a sample of the rest as fits.

    With ``as_rows`` the problem rows and the sample share one table (same columns).
    """
    rest = listing.rest
    problems = listing.problems if as_rows else []
    sampler = Sampler(rest, listing.rest_group)

    def note(k: int) -> str:
        label = "all" if k == len(rest) else f"a sample of {k} of {len(rest)}"
        return f"({label} {listing.rest_label}:)"

    def render(k: int) -> list[str]:
        sample = sampler.take(k)
        if as_rows:
            notes = {len(problems): note(k)} if sample else None
            lines = before + table(listing.columns, [*problems, *sample], notes)
        else:
            lines = list(before)
            if sample:
                lines += [note(k), *table(listing.columns, sample)]
        return lines + _footer(listing, problems_shown, k)

    def measure(k: int) -> int:
        sample = sampler.take(k)
        size = _size(before) + _size(_footer(listing, problems_shown, k))
        if as_rows:
            notes = {len(problems): note(k)} if sample else None
            return size + table_size(listing.columns, [*problems, *sample], notes)
        if sample:
            size += len(note(k)) + 1 + table_size(listing.columns, sample)
        return size

    fitted = _largest(render, min(len(rest), max(0, room // 20)), room, measure)
    return fitted if fitted is not None else render(0)


def _grouped(listing: Listing, room: int) -> list[str]:
    """Problems grouped by reason with their ids; as many ids as fit, evenly across groups."""
    groups: dict[str, list[str]] = {}
    for key, group in zip(listing.problem_keys, listing.problem_groups, strict=True):
        groups.setdefault(group, []).append(key)
    total = len(listing.problem_keys)
    title = (
        f"{total} {listing.noun} {listing.problem_label}, by reason "
        f"({counts({g: len(k) for g, k in groups.items()})}):"
    )

    def names(per_group: int) -> tuple[list[str], int]:
        lines = [title]
        shown = 0
        for group, keys in groups.items():
            part = keys[:per_group]
            shown += len(part)
            more = f" … and {len(keys) - len(part)} more" if len(keys) > len(part) else ""
            lines.append(f"{group} ({len(keys)}): {', '.join(part)}{more}")
        return lines, shown

    every, _ = names(total)
    if _size(every) + _size(_footer(listing, total, 0)) <= room:
        return _with_sample(listing, every, room, total, as_rows=False)
    unnamed_note = "({n} {noun} {label} are counted above but not named; narrow down to see them.)"

    def render(per_group: int) -> list[str]:
        lines, shown = names(per_group)
        note = unnamed_note.format(n=total - shown, noun=listing.noun, label=listing.problem_label)
        return [*lines, note, *_footer(listing, shown, 0)]

    fitted = _largest(render, max(len(keys) for keys in groups.values()), room)
    return fitted if fitted is not None else [title, *_footer(listing, 0, 0)]


# ---------------------------------------------------------------------- findings


@dataclass
class Finding:
    """One problem found by diagnose: full text (several lines), a one-line form, a category."""

    category: str
    key: str
    full: list[str]
    short: str


def fit_findings(
    head: list[str], findings: Sequence[Finding], budget: int, narrow: str
) -> tuple[str, bool]:
    """Findings within ``budget``: each in full, on one line, or named under its category.

    When not all fit in full, one line (the cause) for each finding in order of impact comes
    first, so long first findings never leave later ones without theirs (at most half the space
    when not every line fits); then the first finding of every category in full (its evidence
    and next step), then one line for every other finding, then more full findings in order.
    Findings that still do not fit are named, grouped by category, so none is ever dropped
    silently.
    """
    full = head + [line for f in findings for line in f.full]
    if _size(full) <= budget or not findings:
        return "\n".join(full), False
    footer = [narrow] if narrow else []
    room = budget - _size(head) - _size(footer) - 160
    level = [0] * len(findings)
    costs = [(0, len(f.short) + 1, _size(f.full)) for f in findings]
    names: Counter[str] = Counter()
    for f in findings:
        names[f.category] += 1
    name_cost = sum(len(f.key) + 2 for f in findings) + sum(len(c) + 10 for c in names)
    used = 0

    def upgrade(i: int, to: int, limit: int = room) -> bool:
        nonlocal used, name_cost
        if level[i] >= to:
            return True
        f = findings[i]
        saved = 0
        if level[i] == 0:
            saved = len(f.key) + 2 + (len(f.category) + 10 if names[f.category] == 1 else 0)
        extra = costs[i][to] - costs[i][level[i]]
        if used + extra + name_cost - saved > limit:
            return False
        used += extra
        name_cost -= saved
        if level[i] == 0:
            names[f.category] -= 1
        level[i] = to
        return True

    lines_cost = sum(cost[1] for cost in costs)
    for i in range(len(findings)):
        if not upgrade(i, 1, room if lines_cost <= room else room // 2):
            break
    seen: set[str] = set()
    for i, f in enumerate(findings):
        if f.category not in seen:
            seen.add(f.category)
            if not upgrade(i, 2):
                upgrade(i, 1)
    by_category: dict[str, list[int]] = {}
    for i, f in enumerate(findings):
        by_category.setdefault(f.category, []).append(i)
    interleaved = [
        group[k]
        for k in range(max(len(g) for g in by_category.values()))
        for group in by_category.values()
        if k < len(group)
    ]
    for i in interleaved:
        upgrade(i, 1)
    for i in range(len(findings)):
        upgrade(i, 2)
    lines: list[str] = []
    for f, lv in zip(findings, level, strict=True):
        if lv == 2:
            lines.extend(f.full)
        elif lv == 1:
            lines.append(f.short)
    notes = []
    shortened = level.count(1)
    if shortened:
        notes.append(
            f"({plural(shortened, 'finding')} shortened to one line to fit; ask about one for "
            "details.)"
        )
    rest = [f for f, lv in zip(findings, level, strict=True) if lv == 0]
    if rest:
        notes.append(f"({plural(len(rest), 'more finding', 'more findings')}, by name only:)")
        named: dict[str, list[str]] = {}
        for f in rest:
            named.setdefault(f.category, []).append(f.key)
        for category, keys in named.items():
            notes.append(f"{category} ({len(keys)}): {', '.join(keys)}")
    return "\n".join(head + lines + notes + footer), True


# ---------------------------------------------------------------------- lines (logs)


def fit_tail(
    lines: Sequence[str], budget: int, head: list[str], line_limit: int = 1000
) -> tuple[list[str], int, int]:
    """The last lines of ``lines`` that fit ``budget`` (each cut to ``line_limit`` characters).

    Returns (kept lines, how many earlier lines were dropped, how many lines were cut short).
    """
    room = budget - _size(head) - 160
    kept: list[str] = []
    cut = 0
    for line in reversed(lines):
        if len(line) > line_limit:
            line = line[: line_limit - 1] + "…"
            cut += 1
        if room - (len(line) + 1) < 0:
            break
        room -= len(line) + 1
        kept.append(line)
    kept.reverse()
    return kept, len(lines) - len(kept), cut
