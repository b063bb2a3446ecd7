"""careflow's core: settings, the database session, the audit trail, bulk writes, paths and the Prefect environment.

The layers, lowest first: ``policy/`` (data) → ``models/`` (tables, pure rules) → ``core/`` → ``notifications/``
and ``careflow/`` (the application) → ``flows/`` (orchestration) → entry points (``entry/``, ``web/``). Each imports
only from the layers below it (``tests/test_layers.py`` walks the imports).
"""
