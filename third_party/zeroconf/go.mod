module github.com/grandcat/zeroconf

go 1.13

require (
	github.com/cenkalti/backoff v2.2.1+incompatible
	github.com/miekg/dns v1.1.41
	github.com/pkg/errors v0.9.1
	golang.org/x/net v0.0.0-20210423184538-5f58ad60dda6
	golang.org/x/sys v0.0.0-20210426080607-c94f62235c83 // indirect
)
