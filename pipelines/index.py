"""Public path of the portfolio index API (DESIGN.md); the code lives in ``pipelines.engine``."""

from pipelines.engine.index import Match, PortfolioIndex

__all__ = ["Match", "PortfolioIndex"]
