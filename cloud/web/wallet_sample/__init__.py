"""A sample union app page embedding the wallet module (served at /samples/wallet/)."""
