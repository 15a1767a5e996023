"""Alembic migrations, shipped inside the package so `alfred migrate` works from a wheel."""
