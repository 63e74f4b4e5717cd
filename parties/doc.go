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
//   - metrics: Prometheus collectors and the metrics endpoint;
//   - policies: the registry of KV-cache policies a session may name;
//   - wire: the byte encodings between client and parties (shares, input chunks, the public
//     session parameters the parties compare);
//   - store: the party's share directory (upload checks, manifests, loading);
//   - session: the client sessions of a party, each with its own link session, engine and
//     state, from the open to the last token;
//   - service: the Party and Provision gRPC services over session and store;
//   - daemon: the party process (cmd/party): configuration to running services, graceful
//     shutdown;
//   - client: the client side (provisioning, private generation, reconstruction);
//   - deploy: writing a deployment's certificates and configuration files;
//   - localnet: a throwaway deployment of child processes on loopback (`client local`, tests).
package parties
