"""Service records, the append-only revenue ledger, adjustment requests, disputes and ratings (issue 5)."""
