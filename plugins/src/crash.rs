//! What a block said before it crashed. A trap only tells the host that the guest
//! stopped; the guest's language runtime usually wrote why to stderr first (a Rust panic
//! message, a Python traceback, a JavaScript error). That text, found in the captured
//! log, is what the workflow's author needs to read.

use crate::LogLine;

/// Longest reason quoted from a guest.
const MAX_REASON: usize = 1000;

/// The guest's own account of a crash, if its log holds one.
pub(crate) fn guest_said(log: &[LogLine]) -> Option<String> {
    let lines: Vec<&str> = log.iter().map(|l| l.message.as_str()).collect();
    // Python's runtime panics after printing the traceback: the traceback is the news.
    let said = python_exception(&lines)
        .or_else(|| js_thrown(&lines))
        .or_else(|| rust_panic(&lines))
        .or_else(|| js_error(&lines))?;
    let said = said.trim();
    if said.is_empty() {
        return None;
    }
    Some(if said.len() > MAX_REASON {
        let mut cut = MAX_REASON;
        while !said.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}…", &said[..cut])
    } else {
        said.to_owned()
    })
}

/// `thread '…' panicked at src/lib.rs:10:5:` followed by the panic message.
fn rust_panic(lines: &[&str]) -> Option<String> {
    let at = lines.iter().rposition(|l| l.contains("panicked at"))?;
    let place = lines[at];
    let why = lines.get(at + 1).copied().unwrap_or("");
    let place = place
        .split_once("panicked at ")
        .map(|(_, p)| p.trim_end_matches(':'))
        .unwrap_or(place);
    Some(format!("panic at {place}: {why}"))
}

/// The last traceback's closing line (`ValueError: …`), with the innermost place.
fn python_exception(lines: &[&str]) -> Option<String> {
    let start = lines
        .iter()
        .rposition(|l| l.starts_with("Traceback (most recent call last)"))?;
    let body = &lines[start + 1..];
    // The frames are indented; the first line that is not closes the traceback.
    let last = body
        .iter()
        .position(|l| !l.starts_with(' ') && !l.starts_with('\t'))?;
    let place = body[..last]
        .iter()
        .rev()
        .find(|l| l.trim_start().starts_with("File \""))
        .map(|l| l.trim());
    Some(match place {
        Some(place) => format!("{} ({place})", body[last]),
        None => body[last].to_owned(),
    })
}

/// A JavaScript value thrown out of an export that ComponentizeJS could not turn into
/// the contract's error: it quotes the value, `(received `Error: …`)`.
fn js_thrown(lines: &[&str]) -> Option<String> {
    lines.iter().rev().find_map(|l| {
        let (_, rest) = l.split_once("(received `")?;
        let (value, _) = rest.split_once("`)")?;
        Some(value.to_owned())
    })
}

/// A JavaScript error: `Error: …`, `TypeError: …` and the like, or ComponentizeJS's
/// report of an uncaught exception.
fn js_error(lines: &[&str]) -> Option<String> {
    let at = lines.iter().rposition(|l| {
        let head = l.split(':').next().unwrap_or("");
        head.ends_with("Error") && !head.contains(' ') && l.contains(": ")
    })?;
    let place = lines
        .get(at + 1)
        .map(|l| l.trim())
        .filter(|l| l.starts_with('@') || l.starts_with("at ") || l.contains(".js:"));
    Some(match place {
        Some(place) => format!("{} ({place})", lines[at]),
        None => lines[at].to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LogLevel;

    fn log(text: &str) -> Vec<LogLine> {
        text.lines()
            .map(|l| LogLine {
                level: LogLevel::Warn,
                message: l.to_owned(),
            })
            .collect()
    }

    #[test]
    fn each_language_runtime_is_read_in_its_own_words() {
        let rust = "thread '<unnamed>' panicked at src/lib.rs:18:9:\nthe block gave up\nnote: run with `RUST_BACKTRACE=1`";
        assert_eq!(
            guest_said(&log(rust)).unwrap(),
            "panic at src/lib.rs:18:9: the block gave up"
        );
        let python = "Traceback (most recent call last):\n  File \"/app.py\", line 25, in transform\n    raise ValueError(\"boom\")\nValueError: boom";
        assert_eq!(
            guest_said(&log(python)).unwrap(),
            "ValueError: boom (File \"/app.py\", line 25, in transform)"
        );
        let python_then_panic = format!("{python}\n{rust}");
        assert!(
            guest_said(&log(&python_then_panic))
                .unwrap()
                .starts_with("ValueError: boom")
        );
        let thrown = "invalid variant tag value `undefined` (received `Error: boom`) specified for `BlockError`\nStack:";
        assert_eq!(guest_said(&log(thrown)).unwrap(), "Error: boom");
        let js = "Error: boom\n@zscore.js:90:11";
        assert_eq!(
            guest_said(&log(js)).unwrap(),
            "Error: boom (@zscore.js:90:11)"
        );
        assert_eq!(guest_said(&log("just a line\nanother")), None);
        let long = format!("Error: {}", "x".repeat(5000));
        assert!(guest_said(&log(&long)).unwrap().chars().count() <= MAX_REASON + 1);
    }
}
