"""The providers' own usage and cost reports, stored beside the ledger (issue 14).

``llmtally.reconcile.load`` stores one API page or a saved file (all or
nothing); the parsers, one module per provider, turn the documented page shapes
into rows of ``llmtally.reconcile.tables``. Nothing is imported here, so that
the ledger's migrations can import the tables without a cycle.
"""
