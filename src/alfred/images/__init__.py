"""The hybrid image pipeline (seed 000): jobs, a queue-depth router, worker pools, backends, result cache."""
