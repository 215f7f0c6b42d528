//! What the terminal shows: colours when stdout is a terminal (`--color`, `NO_COLOR`), and a
//! quiet end when stdout is closed (`conformance --list | head -1`). Reports never get colours.

use libtest_mimic::{Arguments, ColorSetting};
use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicBool, Ordering};

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Decides once whether the output is coloured, and makes libtest agree: `--color always` or
/// `never` wins; otherwise colours only on a terminal and without `NO_COLOR`
/// (<https://no-color.org>).
pub fn settle(args: &mut Arguments) {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let enabled = match args.color {
        Some(ColorSetting::Always) => true,
        Some(ColorSetting::Never) => false,
        _ => !no_color && std::io::stdout().is_terminal(),
    };
    args.color = Some(if enabled {
        ColorSetting::Always
    } else {
        ColorSetting::Never
    });
    ENABLED.store(enabled, Ordering::Relaxed);
}

/// `text` in the SGR style `code` (`31` red, `1;33` bold yellow), when colours are on.
pub fn paint(code: &str, text: &str) -> String {
    if ENABLED.load(Ordering::Relaxed) {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

pub const RED: &str = "31";
pub const GREEN: &str = "32";
pub const YELLOW: &str = "1;33";
pub const CYAN: &str = "36";
pub const BOLD: &str = "1";
pub const DIM: &str = "2";

/// A failure message as the terminal shows it: the diff's removed lines red, added green, the
/// step lines cyan. Target text was made printable before it got here; only whole lines are
/// painted.
pub fn failure(message: &str) -> String {
    if !ENABLED.load(Ordering::Relaxed) {
        return message.to_string();
    }
    message
        .lines()
        .map(|line| {
            let body = line.trim_start();
            let nested = line.len() - body.len() >= 6;
            if nested && body.starts_with('-') {
                paint(RED, line)
            } else if nested && body.starts_with('+') {
                paint(GREEN, line)
            } else if line.starts_with("--> ") {
                paint(CYAN, line)
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether a panic is `print!` failing on a closed stdout.
pub fn is_closed_stdout(message: &str) -> bool {
    message.contains("failed printing to stdout") || message.contains("kind: BrokenPipe")
}

/// A `print!` on a closed stdout panics; the run then ends quietly instead of printing the
/// panic (the harness catches it and cleans up).
pub fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if !is_closed_stdout(message) {
            default(info);
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_lines_are_painted_only_when_colours_are_on() {
        let message = "UPD-02 MUST: x\n--> cases/a.yaml:3:5 update\n  body: differs\n      -  \"a\": 1\n      +  \"a\": 2\n  - not a diff line";
        ENABLED.store(false, Ordering::Relaxed);
        assert_eq!(failure(message), message);
        ENABLED.store(true, Ordering::Relaxed);
        let painted = failure(message);
        ENABLED.store(false, Ordering::Relaxed);
        assert!(
            painted.contains("\x1b[31m      -  \"a\": 1\x1b[0m"),
            "{painted}"
        );
        assert!(
            painted.contains("\x1b[32m      +  \"a\": 2\x1b[0m"),
            "{painted}"
        );
        assert!(painted.contains("\x1b[36m--> cases/a.yaml:3:5 update\x1b[0m"));
        assert!(painted.contains("\n  - not a diff line"));
    }
}
