"""biomech package."""
