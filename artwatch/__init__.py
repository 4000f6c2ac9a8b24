"""ArtWatch: finds an artist's work in public posts tagged as AI art, and tells them."""

__version__ = "0.1.0"
