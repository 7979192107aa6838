"""Thread persistence: `ThreadStore` on memory, SQLite (aiosqlite) and PostgreSQL (asyncpg).

Importing this package imports SQLAlchemy; `import tyler` does not (it loads this lazily).
"""

from __future__ import annotations

from ..exceptions import SchemaVersionError, StorageError, ThreadNotFoundError
from ._schema import LATEST_VERSION as SCHEMA_VERSION
from .store import ThreadStore

__all__ = ["SCHEMA_VERSION", "SchemaVersionError", "StorageError", "ThreadNotFoundError", "ThreadStore"]
