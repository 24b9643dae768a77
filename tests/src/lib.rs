//! Harness for the end-to-end tests: brings the lab up and reads its exports.
