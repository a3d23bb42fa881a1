//! The spec language: YAML files in, a checked [`Plan`] out, or every problem at once.

pub mod check;
pub mod de;
pub mod diag;
pub mod files;
pub mod interp;
pub mod limits;
pub mod load;
pub mod model;
pub mod plan;
pub mod yaml;

pub use diag::Diagnostic;
pub use load::{LoadOptions, SpecErrors, load};
pub use plan::Plan;
