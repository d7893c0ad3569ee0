"""Shared test settings.

Hypothesis runs derandomized (a fixed seed per test) with no example
database, so the suite behaves the same on every machine; a failure prints
the falsifying example, which reproduces it.
"""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "workbook",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("workbook")
