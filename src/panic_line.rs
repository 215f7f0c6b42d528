//! A panic the user would otherwise see as a Rust backtrace (in a case, a task of the
//! reference server, the loading) becomes one line on stderr naming what failed and where.
//! The process goes on as tokio or the harness lets it (a connection task that panics closes
//! that connection, a case that panics fails); one on the command's own thread ends the
//! command with [`crate::exit::PANICKED`].

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::process::ExitCode;

/// Runs the binary's `command` (named `what` in the line) with the hook installed.
pub fn guard(what: &'static str, command: impl FnOnce() -> ExitCode) -> ExitCode {
    install(what);
    contained(command)
}

/// `command`'s exit code, or [`crate::exit::PANICKED`] when it panics.
fn contained(command: impl FnOnce() -> ExitCode) -> ExitCode {
    std::panic::catch_unwind(AssertUnwindSafe(command))
        .unwrap_or(ExitCode::from(crate::exit::PANICKED))
}

/// Replaces the panic hook: every panic prints [`line`] for `what` to stderr, and nothing
/// else. For the binary's commands, not for library code (the hook is the process's).
fn install(what: &'static str) {
    std::panic::set_hook(Box::new(move |info| {
        let location = info.location().map(|l| (l.file(), l.line()));
        eprintln!("{}", line(what, info.payload(), location));
    }));
}

/// `error: the reference server failed: <message> (at src/server/x.rs:12)`: the panic's
/// message, its first line only, with control characters escaped (it may quote the target).
pub fn line(what: &str, payload: &dyn Any, location: Option<(&str, u32)>) -> String {
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without a message");
    let first = message.lines().next().unwrap_or_default();
    let at = location.map_or(String::new(), |(file, line)| format!(" (at {file}:{line})"));
    format!(
        "error: {what} failed: {}{at}",
        crate::untrusted::escape(first)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_one_line_naming_what_failed_and_where() {
        let message = String::from("index out of bounds\nstack backtrace:\n  0: main");
        let shown = line(
            "the reference server",
            &message,
            Some(("src/server/store.rs", 176)),
        );
        assert_eq!(
            shown,
            "error: the reference server failed: index out of bounds (at src/server/store.rs:176)"
        );
        assert!(!shown.contains('\n'));
    }

    #[test]
    fn a_command_that_panics_ends_with_its_own_exit_code() {
        assert_eq!(contained(|| ExitCode::from(3)), ExitCode::from(3));
        let code = contained(|| panic!("boom"));
        assert_eq!(code, ExitCode::from(crate::exit::PANICKED));
    }

    #[test]
    fn static_messages_other_payloads_and_target_text_are_shown_safely() {
        let shown = line("the reference server", &"boom", None);
        assert_eq!(shown, "error: the reference server failed: boom");
        let shown = line("the reference server", &42_u32, None);
        assert!(shown.contains("a panic without a message"), "{shown}");
        let hostile = String::from("bad \x1b[31mred\x07 byte");
        let shown = line("the reference server", &hostile, None);
        assert!(
            !shown.contains('\x1b') && !shown.contains('\x07'),
            "{shown}"
        );
    }
}
