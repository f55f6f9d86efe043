"""The instrument catalogue, defence listings with field-level visibility, clearances and search (measures 18, 19)."""
