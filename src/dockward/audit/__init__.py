"""Recording what happened: access-log lines built from the gateway's exchange events."""
