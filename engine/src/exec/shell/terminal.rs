//! The host terminal for `engine shell`: raw mode while the container's TTY does the line
//! editing, and the window size to pass on. Only when stdin really is a terminal.

use std::io::IsTerminal;

use rustix::termios::{self, OptionalActions, Termios};

/// Raw mode on stdin until dropped (also on an early return or a panic), when stdin is a
/// terminal.
pub struct RawMode {
    original: Termios,
}

impl RawMode {
    /// `Ok(None)` when stdin is not a terminal (piped input stays as it is).
    pub fn enable() -> std::io::Result<Option<RawMode>> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Ok(None);
        }
        let original = termios::tcgetattr(&stdin)?;
        let mut raw = original.clone();
        raw.make_raw();
        // Now, not after a flush: input typed before the shell started must reach it.
        termios::tcsetattr(&stdin, OptionalActions::Now, &raw)?;
        Ok(Some(RawMode { original }))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin(), OptionalActions::Now, &self.original);
    }
}

/// The terminal's size as (rows, columns), from stdout, else stdin.
pub fn size() -> Option<(u16, u16)> {
    let from = |ws: rustix::io::Result<termios::Winsize>| {
        ws.ok()
            .filter(|w| w.ws_row > 0 && w.ws_col > 0)
            .map(|w| (w.ws_row, w.ws_col))
    };
    from(termios::tcgetwinsize(std::io::stdout()))
        .or_else(|| from(termios::tcgetwinsize(std::io::stdin())))
}
