"""Files between clusters: which files to copy (``plan``), copying them verified and atomic
(``engine``), and backups of finished stages through the same engine (``backup``)."""
