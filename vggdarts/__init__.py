"""vggdarts: where should a plain VGG11 have shortcuts? A DARTS study on CIFAR-10.

Modules: ``config`` (presets, one config object), ``data`` (in-memory CIFAR-10),
``supernet`` (VGG11 + weighted shortcuts, eq. 1), ``search`` (bilevel DARTS),
``rundir`` (the run-directory schema), ``training`` (shared loop pieces),
``derive``/``retrain`` (alpha -> architecture -> trained network),
``plots`` (figures), ``cli`` (``python -m vggdarts``).
"""
__version__ = "0.1.0"
