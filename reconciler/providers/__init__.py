"""Provider packages, one per vendor, each owning all of its knowledge.

``reconciler.registry`` finds them by name; nothing outside this package imports them.
"""
