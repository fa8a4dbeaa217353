"""WCS 1.0.0, 1.1.1 and 2.0.1 door: coverages are collections' bands and index layers."""
