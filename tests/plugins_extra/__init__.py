"""Plugin modules for tests that load plugins with `--plugin` or a config file."""
