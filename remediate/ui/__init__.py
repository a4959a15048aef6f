"""The operator's terminal: the only code that imports questionary or rich."""
