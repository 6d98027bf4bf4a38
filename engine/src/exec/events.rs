//! Reading the runner's event file after its container ended.

use std::path::Path;

use runner_protocol::protocol::Event;

/// The well-formed events of a file; a missing file or a broken line (a container killed while
/// writing) yields what could be read.
pub fn read_events(path: &Path) -> Vec<Event> {
    match std::fs::File::open(path) {
        Ok(f) => runner_protocol::protocol::read_events(std::io::BufReader::new(f))
            .into_iter()
            .filter_map(Result::ok)
            .collect(),
        Err(_) => Vec::new(),
    }
}
