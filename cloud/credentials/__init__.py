"""Member credentials: issuer keys, signed trust and revocation lists, members and devices.

`keys` seals private keys and decides which key signs and which keys are trusted; `lists`
builds the signed lists; `kit` is the union's offline issuing directory; `members` and
`models` are the cloud's registry in the database; `publisher` puts the lists on MQTT;
`context` is what the members API reads from the environment.
"""
