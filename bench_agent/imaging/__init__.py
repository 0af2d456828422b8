"""Imaging: the master-image catalogue, cache and fetch, and the verified block-map writer."""
