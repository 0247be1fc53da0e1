// Package flakylisten is a net.Listener for tests whose Accept fails the
// way a process out of file descriptors does (EMFILE) a given number of
// times before it accepts again: a server's accept loop must wait and
// retry, not stop listening.
package flakylisten
