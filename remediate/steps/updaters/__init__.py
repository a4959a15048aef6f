"""Consumer updaters: one module per kind of place that holds the credential."""
