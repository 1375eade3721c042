import os

from hypothesis import HealthCheck, settings

# `ci` (the default, so that the README's `python -m pytest -q` is what CI runs) keeps the whole
# suite near two minutes on 2 cores; `dev` explores more (HYPOTHESIS_PROFILE=dev: about 15).
settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile(
    "ci",
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
