"""A simulated CUCM cluster, written from shared/docs/cucm-interfaces.md (not from certops.cucm)."""
