"""Where the integration tests find Redis."""

from __future__ import annotations

import os

REDIS_URL = os.environ.get("ALFRED_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
