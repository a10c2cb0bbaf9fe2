"""Alembic migrations of the run store (see README.md here).

A regular package so that setuptools ships it (``env.py``, ``script.py.mako`` and
``versions/``) in every wheel and sdist. Alembic loads these files by path from
:data:`settlement.store.db.MIGRATIONS`; nothing here is imported by the engine.
"""
