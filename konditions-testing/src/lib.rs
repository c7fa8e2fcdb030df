//! Test support for integration tests against the local control plane.
