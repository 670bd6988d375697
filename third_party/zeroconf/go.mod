module github.com/grandcat/zeroconf

go 1.26.8

require (
	github.com/cenkalti/backoff v2.2.1+incompatible
	github.com/miekg/dns v1.1.73
	golang.org/x/net v0.62.0
	golang.org/x/sys v0.50.0
)
