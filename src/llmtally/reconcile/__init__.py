"""Does the ledger match the bill? The providers' own reports, and the comparison (issue 14).

``llmtally.reconcile.load`` stores one API page or a saved file (all or
nothing; ``fetch`` pages through the admin APIs); the parsers, one module per
provider, turn the documented page shapes into rows of
``llmtally.reconcile.tables``. ``compare`` sets the ledger beside those rows per
day x provider x model and explains the differences (``explain`` per cell,
``explain_price`` across days). Nothing is imported here, so that the ledger's
migrations can import the tables without a cycle.
"""

__all__: list[str] = []  # the modules are the interface
