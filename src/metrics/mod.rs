//! Measurements: per request, and (for load and soak runs) aggregated.

pub mod aggregate;
pub mod process;
pub mod request;

pub use request::RequestMetrics;
