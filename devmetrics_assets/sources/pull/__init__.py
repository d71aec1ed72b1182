"""API pull with incremental extraction into Bronze (docs/api-pull.md): the machinery every API shares.

Modules: http (retrying client), pagination, cursors (durable SQLite state), landing_io (landing
files), records (pulled deliveries), reader (the `<provider>_api` reader types, registered in
sources/readers.py). Each provider's own client (API records → webhook-shaped bodies) is
providers/<name>/pull.py, declared as its `Provider.api`.
"""
