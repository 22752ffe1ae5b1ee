"""Tools that check simpool, apart from the runtime: ``fuzz`` (mutated inputs through the
command line; ``python -m simpool.testing.fuzz``) and ``golden`` (the golden tables of the
shipped scenarios; ``python -m simpool.testing.golden``)."""
