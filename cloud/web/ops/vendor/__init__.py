"""Vendored browser libraries of the ops dashboard (Leaflet 1.9.4, Leaflet.markercluster 1.5.3,
from npm; licences beside them), so the dashboard works with no internet access."""
