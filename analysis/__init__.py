"""Submissions → indicator values, data quality findings, tracking tables and reports."""
