"""Search: the query language, the engine port and its two engines,
the indexer's document shape and the search service."""
