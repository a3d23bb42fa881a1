//! Reporters: subscribers to the runner's events. Writing reports is never inside a timed
//! section, and a reporter that fails never stops the run: its error is kept and told at the end.

pub mod chart;
pub mod console;
pub mod github;
pub mod html;
pub mod json;
pub mod junit;
pub mod location;
pub mod openmetrics;
pub mod plot;
pub mod progress;
pub mod render;
pub mod sanitize;
pub mod summary;
#[cfg(test)]
mod tests;

use crate::run::event::{Event, EventSink};
use std::path::PathBuf;

pub trait Reporter {
    /// Takes one event; an error (a file that cannot be written) is kept, and the run goes on.
    fn on(&mut self, event: &Event<'_>) -> Result<(), String>;

    /// Called once, after the last event: writes what is left, and says which files it wrote.
    fn finish(&mut self) -> Result<Vec<PathBuf>, String> {
        Ok(vec![])
    }
}

/// What the reporters did, once the run is over.
#[derive(Debug, Default)]
pub struct Finished {
    pub written: Vec<PathBuf>,
    pub errors: Vec<String>,
}

/// Every reporter of a run, fed each event in turn.
#[derive(Default)]
pub struct Reporters {
    reporters: Vec<Box<dyn Reporter>>,
    errors: Vec<String>,
}

impl Reporters {
    pub fn add(&mut self, reporter: impl Reporter + 'static) {
        self.reporters.push(Box::new(reporter));
    }

    pub fn finish(mut self) -> Finished {
        let mut written = vec![];
        for r in &mut self.reporters {
            match r.finish() {
                Ok(files) => written.extend(files),
                Err(e) => self.errors.push(e),
            }
        }
        Finished { written, errors: self.errors }
    }
}

impl EventSink for Reporters {
    fn emit(&mut self, event: &Event<'_>) {
        for r in &mut self.reporters {
            if let Err(e) = r.on(event) {
                // One reporter's repeated failure is told once.
                if !self.errors.contains(&e) {
                    self.errors.push(e);
                }
            }
        }
    }
}
