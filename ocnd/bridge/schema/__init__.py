"""Bridge SQLite migrations (NNN_name.sql)."""
