"""The speed bench: ``lowlevel bench`` and the cases the pytest-benchmark suite times."""
