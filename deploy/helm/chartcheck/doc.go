// Package chartcheck holds no code: its tests render the Helm chart in
// ../xfollow-mcp with helm (lint --strict, template) and decode every
// rendered object strictly into the Kubernetes API types, so an unknown
// field or a wrong type fails offline. It is a module of its own so that
// the server's go.mod does not carry the Kubernetes API.
package chartcheck
