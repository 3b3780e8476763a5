"""specens: Speculative Ensemble decoding, exact, fast and checkable."""
