"""Migration modules, applied in the order of their `version`.

Each module defines `version` (int), `name` (str), a docstring that says why, and
`statements(params) -> list[str]`: the DDL to run, in the order type, property, index, every
statement idempotent (`IF NOT EXISTS`) because ArcadeDB DDL does not roll back. A module may also
define `migrate_data(db, params)`: reshapes existing data after the DDL (parameterised queries,
paged by key), giving the same result when run twice.
"""
