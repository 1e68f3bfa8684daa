"""CUCM adapters: certmgr REST, SOAP (Control Center, RisPort70, AXL) and the SSH CLI."""
