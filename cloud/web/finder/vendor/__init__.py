"""Third-party files the finder serves itself (no CDN): Leaflet 1.9.4 from npm, BSD-2-Clause
(LICENSE.leaflet.txt). Only `dist/leaflet.js` and `dist/leaflet.css` are kept."""
