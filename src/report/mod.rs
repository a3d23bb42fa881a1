//! Reporters: subscribers to the runner's events. Writing reports is never inside a timed
//! section.

pub mod console;
pub mod json;
pub mod junit;
pub mod plot;
pub mod render;
pub mod sanitize;
