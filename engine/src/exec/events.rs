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

/// The first step in which the kernel's OOM killer ended processes, and how many (the runner
/// counts them in the container's memory cgroup); with `only`, that step or none.
pub fn oom_kills<'a>(events: &'a [Event], only: Option<&str>) -> Option<(&'a str, u64)> {
    events.iter().find_map(|e| match e {
        Event::StepFinished {
            step,
            oom_kills: Some(n),
            ..
        } if *n > 0 && only.is_none_or(|o| o == step) => Some((step.as_str(), *n)),
        _ => None,
    })
}

/// "the OOM killer ended N process(es) of `STEP` under the LIMIT limit (`[container] memory`)".
pub fn oom_reason(step: &str, kills: u64, limit_bytes: i64) -> String {
    format!(
        "the OOM killer ended {kills} process{} of `{step}` under the {} limit (`[container] memory`)",
        if kills == 1 { "" } else { "es" },
        crate::spec::matrix::show_bytes(u64::try_from(limit_bytes).unwrap_or(0)),
    )
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
