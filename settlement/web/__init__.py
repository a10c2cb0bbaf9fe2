"""The local web console (``settlement serve``): see :mod:`settlement.web.app`."""

from settlement.web.app import create_app

__all__ = ["create_app"]
