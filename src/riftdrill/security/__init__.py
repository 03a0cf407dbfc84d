"""The lab's security (`riftdrill deploy --security sasl-tls`, docs/security.md).

`pki`: the per-deploy certificate authority and the certificates it issues. `credentials`: the
secrets directory (CA key, broker keys, SCRAM passwords; 0700 / 0600). `client`: the one
function that gives a principal's client settings, for librdkafka and for Java clients.
`acls`: what each principal may do. `scram`: SCRAM-SHA-512 on a raw socket (the verifier's fast
reader). `diagnose`: a client's authentication and authorization failures as one line.
"""
