//! What built a component, read from the marks toolchains leave in it: the SDK's own
//! `vitrine-sdk` section, the standard `producers` sections (language, processed-by) and,
//! for Python, the library names componentize-py links. Shown with the plugin so an
//! operator knows what runs, and so crash reports can be read in the author's language.

use wasmparser::{KnownCustom, Parser, Payload};

/// What a component's custom sections say about how it was built.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Marks {
    /// The SDK version stamped by `vitrine_sdk::export_block!`.
    pub(crate) sdk_version: Option<String>,
    /// A short description such as `Python 3.14 (componentize-py)`,
    /// `JavaScript (ComponentizeJS 0.23.0)` or `Rust (vitrine-sdk 0.2.0, rustc 1.95.0)`.
    pub(crate) toolchain: Option<String>,
}

/// Reads the marks of `bytes` (a component already known to parse as far as it is read).
pub(crate) fn marks(bytes: &[u8]) -> Marks {
    let mut sdk_version = None;
    let mut languages: Vec<String> = Vec::new();
    let mut tools: Vec<(String, String)> = Vec::new();
    let mut python = None;
    for payload in Parser::new(0).parse_all(bytes) {
        let Ok(Payload::CustomSection(c)) = payload else {
            continue;
        };
        match (c.name(), c.as_known()) {
            ("vitrine-sdk", _) => {
                let v = String::from_utf8_lossy(c.data()).into_owned();
                if !v.is_empty() && v.len() <= 64 {
                    sdk_version = Some(v);
                }
            }
            (_, KnownCustom::Producers(fields)) => {
                for field in fields.into_iter().flatten() {
                    for value in field.values.into_iter().flatten() {
                        match field.name {
                            "language" => push_new(&mut languages, value.name.to_owned()),
                            "processed-by" => {
                                let version = value.version.split(' ').next().unwrap_or("");
                                let tool = (value.name.to_owned(), version.to_owned());
                                if !tools.contains(&tool) {
                                    tools.push(tool);
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
            ("component-name", _) => python = python.or_else(|| python_version(c.data())),
            _ => {}
        }
    }
    let tool = |name: &str| {
        tools
            .iter()
            .find(|(n, _)| n == name)
            .map(|(n, v)| format!("{n} {v}").trim_end().to_owned())
    };
    let toolchain = if let Some(python) = python {
        Some(format!("Python {python} (componentize-py)"))
    } else if let Some(js) = tool("ComponentizeJS") {
        Some(format!("JavaScript ({js})"))
    } else if let Some(sdk) = &sdk_version {
        let rustc = tool("rustc").map(|r| format!(", {r}")).unwrap_or_default();
        Some(format!("Rust (vitrine-sdk {sdk}{rustc})"))
    } else if let Some(language) = languages.first() {
        let by: Vec<String> = ["rustc", "clang", "wit-bindgen-c", "wit-component"]
            .iter()
            .filter_map(|n| tool(n))
            .collect();
        Some(if by.is_empty() {
            language.clone()
        } else {
            format!("{language} ({})", by.join(", "))
        })
    } else {
        None
    };
    Marks {
        sdk_version,
        toolchain: toolchain.map(|t| t.chars().take(200).collect()),
    }
}

fn push_new(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// The Python version of a componentize-py component, from the name of the CPython
/// library it links (`libpython3.14.so`), found in the component's names.
fn python_version(names: &[u8]) -> Option<String> {
    let needle = b"libpython";
    let at = names.windows(needle.len()).position(|w| w == needle)? + needle.len();
    let rest = &names[at..];
    let end = rest.windows(3).position(|w| w == b".so")?;
    let version = std::str::from_utf8(&rest[..end]).ok()?;
    (!version.is_empty()
        && version.len() <= 8
        && version.chars().all(|c| c.is_ascii_digit() || c == '.'))
    .then(|| version.to_owned())
}

#[cfg(test)]
#[test]
fn the_python_version_is_read_from_the_library_name() {
    assert_eq!(
        python_version(b"\x01libc.so\x00libpython3.14.so\x02x").as_deref(),
        Some("3.14")
    );
    assert_eq!(python_version(b"libpythonista.so"), None);
    assert_eq!(python_version(b"no python here"), None);
}
