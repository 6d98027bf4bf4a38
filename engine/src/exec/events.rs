//! Reading the runner's event file after its container ended.

use std::path::Path;

use runner_protocol::protocol::Event;

/// "cannot write the events (PATH): WHY" when the runner said on its output that its event file
/// could not be written (a full disk): the cause to name when its events are missing. The
/// runner names the file as the container sees it; PATH is the host's, in the node's I/O
/// folder `io`, where the space is missing.
pub fn unwritable(tail: &[String], io: &Path) -> Option<String> {
    let mark = runner_protocol::protocol::EVENTS_UNWRITABLE;
    let in_container = format!("({}/", super::context::IO_IN_CONTAINER);
    let on_host = format!("({}/", io.display());
    tail.iter()
        .rev()
        .find_map(|l| l.strip_prefix(mark))
        .map(|rest| {
            format!(
                "cannot write the events{}",
                rest.replacen(&in_container, &on_host, 1)
            )
        })
}

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
