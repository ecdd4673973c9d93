"""The daemon side: the only place that wires parts (store, trust, registry, drivers) together."""
