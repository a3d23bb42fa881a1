//! The spec language: YAML files in, a checked [`Plan`] out, or every problem at once.

pub(crate) mod check;
pub(crate) mod dataset;
pub(crate) mod de;
pub mod diag;
pub(crate) mod draw;
pub mod embedded;
pub(crate) mod files;
pub(crate) mod fill;
pub(crate) mod interp;
pub(crate) mod judge;
pub(crate) mod limits;
pub mod load;
pub(crate) mod matrix;
pub(crate) mod model;
pub(crate) mod plan;
pub mod schema;
pub mod shard;
mod sweep;
pub mod yaml;

pub use diag::Diagnostic;
pub use embedded::{Embedded, EmbeddedFile};
pub use load::{LoadOptions, SpecErrors, load};
pub use plan::Plan;
