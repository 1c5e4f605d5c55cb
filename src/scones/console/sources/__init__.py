"""Where the console's data comes from: the stages' Python APIs and tables, read-only."""
