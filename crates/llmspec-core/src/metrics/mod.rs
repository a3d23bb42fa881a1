//! Measurements: per request, and (for load and soak runs) aggregated.

pub mod aggregate;
pub mod baseline;
pub mod catalog;
pub(crate) mod process;
pub(crate) mod prometheus;
pub(crate) mod request;
pub(crate) mod series;

pub use request::RequestMetrics;
