"""医共体结算引擎 — year-end settlement engine for county medical communities.

See ARCHITECTURE.md at the project root for the map of the package.
"""

__version__ = "0.1.0"
