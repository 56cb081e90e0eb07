"""Static web pages the cloud serves."""
