from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    """One row: what was measured, the figure, the budget or anchor it is held against, and the ratio."""

    name: str
    figure: str
    budget: str = "-"
    ratio: float | None = None  # figure / budget (lower is better) or speed-up over an anchor
    ok: bool | None = None

    def markdown(self) -> str:
        ratio = "-" if self.ratio is None else f"{self.ratio:.2f}"
        verdict = {True: "within", False: "OVER", None: "-"}[self.ok]
        return f"| {self.name} | {self.figure} | {self.budget} | {ratio} | {verdict} |"
