"""WFS 2.0.0 door: scene footprints of each collection as feature types."""
