// Package crashtest runs the child side of a kill -9 test: the test binary
// re-runs one of its own tests as a child process, which prints a line per
// acknowledged write; the parent kills it with SIGKILL at a random moment
// and gets the lines back to check against what survived.
//
// Invariant: Kill returns only after the child has exited, and it returns
// every complete line the child wrote before it died (a torn last line is
// the caller's to skip).
package crashtest
