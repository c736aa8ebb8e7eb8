from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Result:
    """One row: what was measured, the figure, the budget or anchor it is held against, and the ratio.

    List benches also fill ``p50``/``p95`` (ms) and ``queries`` so runs on two databases can be set side by side.
    """

    name: str
    figure: str
    budget: str = "-"
    ratio: float | None = None  # figure / budget (lower is better) or speed-up over an anchor
    ok: bool | None = None
    p50: float | None = None
    p95: float | None = None
    queries: int | None = None

    def markdown(self) -> str:
        ratio = "-" if self.ratio is None else f"{self.ratio:.2f}"
        verdict = {True: "within", False: "OVER", None: "-"}[self.ok]
        return f"| {self.name} | {self.figure} | {self.budget} | {ratio} | {verdict} |"

    def as_dict(self) -> dict:
        return asdict(self)
