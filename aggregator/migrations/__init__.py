"""Alembic migrations, shipped inside the package so ``aggregator migrate`` works anywhere."""
