"""The database: schema, engines (SQLite embedded, PostgreSQL scale-out) and migrations."""
