"""The manager: the dual-cluster rule (``rule``), its pure inputs and outputs — reconcile, the
per-cluster views, decide (``decisions``) — the tick that does the I/O around them (``tick``), what
``mpflow status`` shows (``status``) and the modelling pipeline's loop (``pipeline``)."""
