"""NumPy reference."""
