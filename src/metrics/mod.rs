//! Measurements: per request, and (for load and soak runs) aggregated.

pub mod aggregate;
pub mod process;
pub mod prometheus;
pub mod request;
pub mod series;

pub use request::RequestMetrics;
