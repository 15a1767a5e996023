"""Hugging Face Space entry point: Alfred's image worker (``alfred.images.space_app``).

Deployed, the ``alfred`` package is copied beside this file (see README.md); run from the
repository, ``../src`` is used. Spaces start it with ``python app.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for candidate in (HERE, HERE.parent / "src"):
    if (candidate / "alfred" / "images" / "space_app.py").is_file():
        sys.path.insert(0, str(candidate))
        break

from alfred.images.space_app import main  # noqa: E402 - after the path is set

if __name__ == "__main__":
    main()
