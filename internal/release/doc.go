// Package release holds no code: its tests keep the release artefacts at
// the repository root (VERSION, manifest.json for the MCP bundle,
// server.json for the MCP registry) in step with the server, and start the
// packed bundle the way a host would.
package release
