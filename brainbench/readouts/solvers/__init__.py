"""Pure solver functions behind the readouts (shapes in each docstring)."""
