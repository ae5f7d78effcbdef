"""HTTP interface: webhook receivers, the history API, health and metrics, OpenAPI."""
