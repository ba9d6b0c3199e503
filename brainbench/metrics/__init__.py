"""Metrics (prediction vs response, per neuroid) and ceilings (reliability of the data)."""
