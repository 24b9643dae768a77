//! IronLB configuration: MetalLB's legacy ConfigMap document, parsed and validated into
//! typed values, with no I/O. An invalid document yields every error found, each naming
//! the pool or peer, the field and the offending value.
#![forbid(unsafe_code)]

pub mod model;

pub use model::*;
