"""The one cross-service contract of rucnet: events, topics, reference data, settings base."""
