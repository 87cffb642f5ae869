"""Migration modules, applied in the order of their `version`.

Each module defines `version` (int), `name` (str), a docstring that says why, and
`statements(params) -> list[str]`: the DDL to run, in the order type, property, index, every
statement idempotent (`IF NOT EXISTS`) because ArcadeDB DDL does not roll back.
"""
