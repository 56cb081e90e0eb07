"""Stations as the cloud knows them: the registry (what and where), opening hours and
holidays, liveness (is its agent alive), the cloud's own sight, the one open-now judgement,
the desired config pushed to each agent, and the workers' finder (the nearby index and the
query over it, GeoJSON for maps)."""
