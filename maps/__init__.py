"""Folium maps built from engine results; imports coverage, never the reverse."""
