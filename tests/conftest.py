"""Shared pytest fixtures."""
import numpy as np
import pytest


@pytest.fixture
def rng():
    """A freshly seeded NumPy Generator per test: each test's inputs are reproducible alone."""
    return np.random.default_rng(20240607)
