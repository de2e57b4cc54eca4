"""Notebook views: anywidget widgets over stored runs, partitions and sensors."""
