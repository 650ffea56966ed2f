package config

import (
	"fmt"
	"net"
	"strconv"
)

// metrics validates --metrics: HOST:PORT or a bare port (then loopback),
// and never the port --http serves MCP on.
func (p *Parser) metrics(c *Config) []error {
	if c.Metrics == "" {
		return nil
	}
	addr := c.Metrics
	if _, err := strconv.Atoi(addr); err == nil {
		addr = ":" + addr
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return []error{p.valueError("metrics", "want HOST:PORT or a port, such as 127.0.0.1:9464 or :9464")}
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return []error{p.valueError("metrics", "the port must be a number from 0 to 65535")}
	}
	if c.HTTP != "" && n != 0 {
		if _, hport, err := net.SplitHostPort(c.HTTP); err == nil && hport == port {
			return []error{p.valueError("metrics", fmt.Sprintf("is on port %s, the MCP port of --http: metrics are served on a listener of their own; pick another port, e.g. 9464", port))}
		}
	}
	return nil
}
