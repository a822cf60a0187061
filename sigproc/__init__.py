"""sigproc package."""
