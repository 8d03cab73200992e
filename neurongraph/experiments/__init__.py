"""Experiments from the papers: many models trained, ingested and analysed, one table or plot."""
