"""The validation report of one import: facts, counts and a list of problems with feature numbers."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

#: Problems listed in full; beyond this only the counts grow.
MAX_PROBLEMS = 1000


@dataclass
class Report:
    """Collects what validation found; ``as_json()`` is stored with the version and shown by the job.

    ``problems`` entries are ``{"kind", "feature", "row"?, "column"?, "message"}``; ``counts`` has one
    number per kind; ``facts`` hold scalars (format, CRS, encoding, features read …).
    """

    facts: dict[str, Any] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self,
        kind: str,
        message: str,
        *,
        feature: int | None = None,
        row: int | None = None,
        column: str | None = None,
        count: int = 1,
    ) -> None:
        """Record one problem (``count`` > 1 for one entry standing for several)."""
        self.counts[kind] += count
        if len(self.problems) < MAX_PROBLEMS:
            entry: dict[str, Any] = {"kind": kind, "message": message}
            if feature is not None:
                entry["feature"] = feature
            if row is not None:
                entry["row"] = row
            if column is not None:
                entry["column"] = column
            self.problems.append(entry)

    def add_features(
        self, kind: str, message: str, features: list[int], *, tabular: bool, column: str | None = None
    ) -> None:
        """Record the same problem for several features (listed while there is room, all counted)."""
        room = max(MAX_PROBLEMS - len(self.problems), 0)
        for f in features[:room]:
            self.add(kind, message, feature=f, row=f + 1 if tabular else None, column=column)
        self.counts[kind] += max(len(features) - room, 0)

    def as_json(self) -> dict[str, Any]:
        """The report as stored in ``layer_version.validation_report`` and shown by ``GET /jobs/{id}``."""
        body: dict[str, Any] = dict(self.facts)
        body.update({k: int(v) for k, v in sorted(self.counts.items())})
        body["problems"] = self.problems
        body["problems_listed"] = len(self.problems)
        body["problems_total"] = int(sum(self.counts.values()))
        return body
