"""The instance layer: the store, execution and sensors wired together for a notebook.

It implements the runtime interface of :mod:`nbflow.hooks` that definitions call
(``job.run()``, ``partitions.add()``, ``sensor.tick()``) and installs it when nbflow is imported.
"""
