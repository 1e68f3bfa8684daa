"""certops: renew CA-signed certificates on Cisco Unified Communications Manager clusters.

This package is the library: models, the unit table, planning rules, X.509 checks and the
adapters to CUCM, CAs and Slack. It never imports Prefect; the orchestration lives in the
top-level ``tasks`` and ``flows`` packages.
"""

__version__ = "0.1.0"
