"""The web console: one place to look at jobs, endpoints, executions and captured data."""
