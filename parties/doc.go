// Package parties is the party node runtime: what runs on each host of a deployment. Its
// subpackages each do one job:
//
//   - role: the roles of a deployment (p0, p1, p2, dealer, client), the protocols (2pc, 3pc) and
//     the mapping to MPC party numbers;
//   - pki: the deployment's CA and certificates (role in the Common Name and a URI SAN), PEM
//     files, and the TLS 1.3 mutual-authentication configurations with per-role pinning;
//   - link: the gRPC implementation of mpc/transport.Transport between parties, one stream per
//     directed link per session, many sessions over one connection per party pair;
//   - config: the party's TOML configuration file, its validation, flags, and the settings it
//     gives pki, link and logging;
//   - server: the party's gRPC server (TLS, Link, health, the session layer's services) and its
//     graceful shutdown;
//   - metrics: Prometheus collectors and the metrics endpoint.
//
// The session layer (the Party and Provision services of proto/partypb, which open a
// link.Session per client session and run the secure engine on it) builds on these.
package parties
