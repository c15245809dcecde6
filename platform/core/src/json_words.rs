//! serde's messages in the API's words. A definition that does not fit its shape is a
//! user's mistake, so the message names what the API expects (an object, a list, a whole
//! number, one of some names) rather than the Rust type behind it (`expected struct
//! Workflow`, `internally tagged enum LocationKind`, `expected usize`).

/// The message of a JSON shape error, with Rust names replaced by the API's words.
pub fn json_words(e: &serde_json::Error) -> String {
    in_api_words(&e.to_string())
}

fn in_api_words(raw: &str) -> String {
    // serde's own phrases, most specific first: (prefix as serde writes it, replacement).
    const WORDS: &[(&str, &str)] = &[
        (
            "expected internally tagged enum ",
            "an object with a `kind`",
        ),
        ("expected struct variant ", "an object"),
        ("expected struct ", "an object"),
        ("expected tuple struct ", "a list"),
        ("expected unit struct ", "null"),
        ("expected enum ", "one of the names listed"),
        ("expected variant identifier", "one of the names listed"),
        ("expected a sequence", "a list"),
        ("expected a map", "an object"),
        ("expected usize", "a whole number, 0 or more"),
        ("expected u64", "a whole number, 0 or more"),
        ("expected u32", "a whole number, 0 or more"),
        ("expected u16", "a whole number, 0 or more"),
        ("expected u8", "a whole number, 0 or more"),
        ("expected i64", "a whole number"),
        ("expected i32", "a whole number"),
        ("expected f64", "a number"),
        ("expected f32", "a number"),
    ];
    let mut out = raw.to_owned();
    for (phrase, words) in WORDS {
        while let Some(i) = out.find(phrase) {
            // A Rust type name follows some phrases: drop it with the phrase.
            let rest = &out[i + phrase.len()..];
            let name_len = if phrase.ends_with(' ') {
                rest.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '`'))
                    .unwrap_or(rest.len())
            } else {
                0
            };
            out = format!("{}expected {words}{}", &out[..i], &rest[name_len..]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::in_api_words;

    #[test]
    fn rust_names_give_way_to_the_apis_words() {
        assert_eq!(
            in_api_words("invalid type: integer `5`, expected struct Workflow"),
            "invalid type: integer `5`, expected an object"
        );
        assert_eq!(
            in_api_words(
                "invalid type: string \"x\", expected internally tagged enum LocationKind"
            ),
            "invalid type: string \"x\", expected an object with a `kind`"
        );
        assert_eq!(
            in_api_words("invalid value: integer `-1`, expected usize"),
            "invalid value: integer `-1`, expected a whole number, 0 or more"
        );
        assert_eq!(
            in_api_words("invalid type: map, expected a sequence"),
            "invalid type: map, expected a list"
        );
        // Messages that already speak plainly are left alone.
        assert_eq!(
            in_api_words("missing field `blocks`"),
            "missing field `blocks`"
        );
    }
}
