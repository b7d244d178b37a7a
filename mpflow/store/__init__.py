"""The jobs database: its tables (``schema``), opening and migrating it (``database``,
``migrations/``), the plain records a tick reads and the typed changes it writes (``records``), and
the named leases that keep two ticks apart (``leases``)."""
