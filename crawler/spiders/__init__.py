"""One module per platform; each module's spider ``name`` equals the module name."""
