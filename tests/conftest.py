import os

from hypothesis import HealthCheck, settings

# `ci` (the default, so that the README's `python -m pytest -q -n auto` is what CI runs) bounds
# every property test; `dev` explores more (HYPOTHESIS_PROFILE=dev).
settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile(
    "ci",
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
