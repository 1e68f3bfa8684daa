"""CA backends behind one interface: manual, lab CA, ACME."""
