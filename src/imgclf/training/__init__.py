"""Lightning training: the module, the trainer factory and :func:`~imgclf.training.fit.fit`."""
