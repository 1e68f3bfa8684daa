"""Reports of a scan: the expiry timeline picture and the scan table (markdown and rich)."""
