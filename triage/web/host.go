package web

import (
	"fmt"
	"net"
	"net/http"
	"strings"
)

// LoopbackHosts are the loopback names: the Hosts of a console that
// listens on loopback, and the default.
func LoopbackHosts() []string { return []string{"localhost", "127.0.0.1", "::1"} }

// hostRule is one entry of Config.Hosts: a name or address, lower case
// (an IP address in its canonical form), and a port or "".
type hostRule struct{ name, port string }

// ValidHost reports whether h can be an entry of Config.Hosts: a host
// name or IP address, with or without ":port" (an IPv6 address with a
// port in brackets).
func ValidHost(h string) bool {
	_, err := parseHostRule(h)
	return err == nil
}

func parseHostRule(h string) (hostRule, error) {
	name, port := splitHost(h)
	bad := name == "" || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789.-_:") != "" ||
		strings.Trim(port, "0123456789") != "" || len(port) > 5
	if bad {
		return hostRule{}, fmt.Errorf("web: %q is not a host name or address with an optional :port", h)
	}
	return hostRule{name, port}, nil
}

// splitHost splits a Host header or a Hosts entry into its name (lower
// case; an IP address canonical, without brackets) and its port ("" when
// it has none).
func splitHost(h string) (name, port string) {
	name = h
	if n, p, err := net.SplitHostPort(h); err == nil {
		name, port = n, p
	} else {
		name = strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")
	}
	if ip := net.ParseIP(name); ip != nil {
		return ip.String(), port
	}
	return strings.ToLower(name), port
}

// hostAllowed reports whether r's Host is on the list: an entry with a
// port takes that name at that port; one without, that name at the port
// the request arrived at, or with no port. A page elsewhere that points
// its own name at the console (DNS rebinding) sends its own name, and is
// refused.
func hostAllowed(rules []hostRule, r *http.Request) bool {
	name, port := splitHost(r.Host)
	arrived := ""
	if local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		_, arrived, _ = net.SplitHostPort(local.String())
	}
	for _, h := range rules {
		switch {
		case h.name != name:
		case h.port != "":
			if port == h.port {
				return true
			}
		case port == "" || arrived == "" || port == arrived:
			return true
		}
	}
	return false
}
