"""skillkiln's evolution engine: proposers, gate, loop and CLI."""
