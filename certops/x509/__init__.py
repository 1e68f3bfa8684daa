"""X.509: reading what a CA returns, and the checks before every upload."""
