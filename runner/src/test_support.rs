//! Helpers of the runner's unit tests.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// An executable script at `path`, written by a child process. Written by this process, the
/// file would be open for writing while another test thread forks: the forked child holds that
/// descriptor until it execs, and running the script then fails with ETXTBSY ("text file
/// busy"), seen under load. A child that writes and exits leaves no such descriptor here.
pub fn write_executable(path: &Path, text: &str) {
    let mut child = Command::new("sh")
        .args(["-c", "cat > \"$1\" && chmod 755 \"$1\"", "sh"])
        .arg(path)
        .stdin(Stdio::piped())
        .spawn()
        .expect("sh");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(text.as_bytes())
        .expect("write the script");
    assert!(
        child.wait().expect("sh").success(),
        "cannot write {}",
        path.display()
    );
}
