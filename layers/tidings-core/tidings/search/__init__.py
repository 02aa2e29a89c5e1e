"""Search (PROTOCOL.md §9, seed §5): the query language, the engine port and its two engines,
the indexer's document shape and the search service."""
