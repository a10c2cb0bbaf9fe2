"""The revisions, one file each (``000N_<what>.py``); Alembic skips this ``__init__``."""
