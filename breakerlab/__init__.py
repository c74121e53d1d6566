"""breakerlab: the app — the ``breakerlab`` CLI, compare/sweep/search, executors, the pytest plugin.

The top layer: ``multiorg ← faults ← sim ← reports ← breakerlab``. It imports everything below
it; nothing imports it.
"""
