import os

from hypothesis import HealthCheck, settings

# `dev` explores more; `ci` keeps the whole suite well under the CI time limit on 2 cores.
settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile(
    "ci",
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
