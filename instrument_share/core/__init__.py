"""Framework-free building blocks: clock, errors, identifiers, money."""
